"""Stage ``fill-mask``: top-k completions of each ``<mask>`` of a text or of a file of texts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import List

from workbench.artifacts.atomic import atomic_file
from workbench.config.root import WorkbenchConfig
from workbench.inference.config import FillMaskConfig
from workbench.inference.fill_mask import FillMaskResult, as_json, as_table, fill_mask
from workbench.inference.inputs import Text, read_texts
from workbench.inference.model_loading import InferenceError, load_masked_lm

log = logging.getLogger(__name__)


def fill_mask_texts(cfg: FillMaskConfig) -> List[Text]:
    if cfg.text is not None:
        return [Text("text", cfg.text, "fill_mask.text")]
    if cfg.input_file is not None:
        return read_texts(cfg.input_file, "fill_mask.input_file", InferenceError)
    raise InferenceError('fill-mask needs fill_mask.text="Le camembert est <mask> !" or fill_mask.input_file=<file, one text per line>')


def fill_mask_stage(cfg: WorkbenchConfig) -> List[FillMaskResult]:
    settings = cfg.fill_mask
    texts = fill_mask_texts(settings)
    model = load_masked_lm(settings.model)
    results = fill_mask(model, texts, settings.top_k, settings.batch_size)
    if settings.output:
        with atomic_file(Path(settings.output).expanduser()) as handle:
            for result in results:
                handle.write(json.dumps(as_json(result), ensure_ascii=False) + "\n")
        log.info("fill-mask: %d texts -> %s", len(results), settings.output)
    else:
        print(as_table(results))
    return results


run = fill_mask_stage
