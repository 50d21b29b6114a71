"""Stage ``predict``: a fine-tuned model's predictions, with their scores, for every example of a file (jsonl)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm.auto import tqdm

from workbench.artifacts.atomic import atomic_file, write_json
from workbench.artifacts.provenance import provenance
from workbench.config.root import WorkbenchConfig
from workbench.inference.finetuned import load_finetuned
from workbench.inference.model_loading import InferenceError
from workbench.inference.predict_inputs import input_format, read_examples
from workbench.inference.task_predictions import predict_records

log = logging.getLogger(__name__)


def manifest_path(output: Path) -> Path:
    return output.with_name(output.stem + ".manifest.json")


def predict(cfg: WorkbenchConfig) -> Path:
    """Writes ``predict.output`` (under a temporary name, renamed when complete) and its manifest; returns the output."""
    settings = cfg.predict
    if not settings.input_file or not settings.output:
        raise InferenceError("predict needs predict.input_file=<file> and predict.output=<predictions.jsonl>"
                             " (python -m workbench predict model=<folder> input_file=<file> output=<file.jsonl>)")
    output = Path(settings.output).expanduser()
    if output.suffix != ".jsonl":
        raise InferenceError(f"predict.output={settings.output}: predictions are written as jsonl; name it <file>.jsonl")
    source = Path(settings.input_file).expanduser()
    fmt = input_format(source, settings.format)
    model = load_finetuned(settings.model)
    task = model.task(fmt, str(source), text_column=settings.text_column, pair_column=settings.pair_column,
                      has_header=settings.has_header, token_column=settings.token_column)
    count = 0
    progress = tqdm(desc=f"predict {source.name}", unit="example", dynamic_ncols=True)
    with atomic_file(output) as handle:  # streamed: each chunk is written as soon as it is predicted
        for record in predict_records(model, task, read_examples(source, fmt, task), settings.batch_size):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            progress.update(1)
    progress.close()
    if count == 0:
        output.unlink()
        raise InferenceError(f"predict.input_file={source}: no example in the file (format {fmt})")
    write_json(manifest_path(output), provenance(cfg, model=str(model.path), kind=model.kind, input_file=str(source),
                                                  format=fmt, examples=count, labels=model.labels, threshold=model.threshold))
    log.info("predict: %d examples (%s, %s) -> %s", count, model.kind, fmt, output)
    return output


run = predict
