"""``predict`` applies a fine-tuned folder to a file of each input format and gives the predictions workbench's own
model gives (same features, same decoding), with their scores; bad input is one error naming the file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import randomize_weights
from workbench.config.root import WorkbenchConfig
from workbench.evaluation.config import TaskConfig
from workbench.evaluation.export_finetuned import FinetunedJob, export_finetuned
from workbench.evaluation.kinds import task_features
from workbench.evaluation.models import load_for_task
from workbench.evaluation.predict import decode_predictions, model_outputs
from workbench.evaluation.readers import read_split
from workbench.inference.config import PredictConfig
from workbench.inference.model_loading import InferenceError
from workbench.stages.predict import predict

REPO = Path(__file__).resolve().parents[2]
NER_LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]


def _export(root: Path, model_dir: Path, task: TaskConfig, labels):
    """A fine-tuned folder of ``task`` with random (sharp) weights, and the workbench model it was written from."""
    torch.manual_seed(0)
    loaded = load_for_task(model_dir, task.kind if task.kind != "multilabel_classification" else "classification", len(labels))
    randomize_weights(loaded.model.model, seed=3)
    job = FinetunedJob("tiny", task, list(labels), {}, {"dev": {}}, {}, 0, str(model_dir), "fp32", "cpu")
    return export_finetuned(root / task.name, loaded, job), loaded


def _workbench_predictions(loaded, task: TaskConfig, path: str, labels):
    examples = read_split(task, path)
    features = task_features(task, examples, loaded.tokenizer, labels)
    outputs = model_outputs(loaded.model, features, 8, torch.device("cpu"), loaded.tokenizer.pad_id)
    return decode_predictions(task, examples, features, outputs, labels)


def _run(tmp_path, model, input_file, name="out", **keys):
    output = predict(WorkbenchConfig(predict=PredictConfig(model=str(model), input_file=str(input_file),
                                                           output=str(tmp_path / f"{name}.jsonl"), **keys)))
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def ner_folder(tmp_path_factory, exportable_model_dir, transformers):
    task = TaskConfig(name="ner_tiny", kind="token_classification", metric="entity_f1", format="conll", tag_scheme="iob1",
                      train="x", dev="x", max_seq_len=24)  # short windows: long sentences span several features
    return (*_export(tmp_path_factory.mktemp("ner"), exportable_model_dir, task, NER_LABELS), task)


def test_conll_tokens_and_text_lines_get_the_workbench_tags(tmp_path, shared_data, ner_folder):
    torch.set_num_threads(1)
    folder, loaded, task = ner_folder
    lines = (shared_data / "conll2003_en/iob1_original/eng.testa").read_text(encoding="utf-8").splitlines()[:200]
    conll = tmp_path / "sample.conll"
    conll.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = _run(tmp_path, folder, conll)
    expected = _workbench_predictions(loaded, task, str(conll), NER_LABELS)
    assert [r["tags"] for r in records] == expected and len(records) >= 6
    assert all(len(r["scores"]) == len(r["tokens"]) and all(0 < s <= 1 for s in r["scores"]) for r in records)
    # the same sentences as text lines (words split at white space)
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(" ".join(r["tokens"]) for r in records) + "\n", encoding="utf-8")
    assert [r["tags"] for r in _run(tmp_path, folder, text, "text")] == expected


def test_squad_json_gets_the_workbench_answers_with_scores(tmp_path, shared_data, exportable_model_dir, transformers):
    torch.set_num_threads(1)
    data = json.loads((shared_data / "piaf_fr/piaf-v1.0.json").read_text(encoding="utf-8"))
    article = data["data"][0]
    small = {"version": "1.1", "data": [{"title": article["title"], "paragraphs": article["paragraphs"][:2]}]}
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(small, ensure_ascii=False), encoding="utf-8")
    task = TaskConfig(name="qa_tiny", kind="extractive_qa", metric="squad", format="squad_json", train="x", dev="x",
                      max_seq_len=64, doc_stride=24, max_question_len=16)
    folder, loaded = _export(tmp_path / "models", exportable_model_dir, task, [])
    records = _run(tmp_path, folder, path)
    assert [r["answer"] for r in records] == _workbench_predictions(loaded, task, str(path), [])
    contexts = {qa["id"]: p["context"] for p in small["data"][0]["paragraphs"] for qa in p["qas"]}
    assert [r["id"] for r in records] == list(contexts)
    assert all(r["answer"] in contexts[r["id"]] and isinstance(r["score"], float) for r in records)


def test_tsv_and_jsonl_columns_and_errors_naming_file_and_line(tmp_path, exportable_model_dir, transformers):
    task = TaskConfig(name="pairs", kind="pair_classification", format="tsv", text_column="premise", pair_column="hypothesis",
                      train="x", dev="x", max_seq_len=32)
    folder, loaded = _export(tmp_path / "models", exportable_model_dir, task, ["contradiction", "entailment", "neutral"])
    rows = [("Il pleut.", "Le sol est mouillé."), ("Le chat dort.", "Le chat court dans le jardin."), ("Elle chante.", "Elle se tait.")]
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("premise\thypothesis\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    records = _run(tmp_path, folder, tsv)
    labeled = tmp_path / "labeled.tsv"  # the task reader wants a label column: any label, it is not used
    labeled.write_text("premise\thypothesis\tlabel\n" + "".join(f"{a}\t{b}\tneutral\n" for a, b in rows), encoding="utf-8")
    expected = _workbench_predictions(loaded, task, str(labeled), ["contradiction", "entailment", "neutral"])
    assert [r["label"] for r in records] == expected
    assert [(r["text"], r["pair"]) for r in records] == rows and [r["line"] for r in records] == ["2", "3", "4"]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"p": a, "h": b}, ensure_ascii=False) + "\n" for a, b in rows), encoding="utf-8")
    assert [r["label"] for r in _run(tmp_path, folder, jsonl, "j", text_column="p", pair_column="h")] == expected

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"p": "a", "h": "b"}\n{"p": "a", "h": \n', encoding="utf-8")
    with pytest.raises(InferenceError, match=rf"{bad}:2: not valid JSON"):
        _run(tmp_path, folder, bad, "badout", text_column="p", pair_column="h")
    # nothing half-written: neither the output, nor its temporary file, nor a manifest
    assert not (tmp_path / "badout.jsonl").exists() and not list(tmp_path.glob(".badout*"))
    assert not (tmp_path / "badout.manifest.json").exists()
    with pytest.raises(InferenceError, match=r"no field 'premise' \(predict.text_column\)"):
        _run(tmp_path, folder, jsonl, "j2")
    with pytest.raises(InferenceError, match=r"pair_classification model; give a tsv or csv or jsonl file"):
        _run(tmp_path, folder, tmp_path / "pairs.txt")
    short = tmp_path / "short.tsv"
    short.write_text("premise\thypothesis\nseulement un texte\n", encoding="utf-8")
    with pytest.raises(InferenceError, match=rf"{short}:2: 1 columns, expected at least 2"):
        _run(tmp_path, folder, short, "short")
    with pytest.raises(InferenceError, match=r"no task head"):
        pretrained = tmp_path / "pretrained"
        pretrained.mkdir()
        (pretrained / "config.json").write_text(json.dumps({"architectures": ["RobertaForMaskedLM"], "model_type": "roberta"}))
        _run(tmp_path, pretrained, tsv, "p")


def test_command_line_short_form(tmp_path, exportable_model_dir, transformers):
    task = TaskConfig(name="sentiment", format="tsv", train="x", dev="x", max_seq_len=32)
    folder, _ = _export(tmp_path / "models", exportable_model_dir, task, ["negatif", "positif"])
    texts = tmp_path / "reviews.txt"
    texts.write_text("Un film magnifique.\n\nUne perte de temps.\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "workbench", "predict", f"model={folder}", f"input_file={texts}",
               f"output={tmp_path / 'out.jsonl'}", f"paths.evals={tmp_path / 'evals'}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == ["1", "3"] and {r["label"] for r in records} <= {"negatif", "positif"}
    with pytest.raises(InferenceError, match=r"missing.txt: the file does not exist"):
        _run(tmp_path, folder, tmp_path / "missing.txt")
