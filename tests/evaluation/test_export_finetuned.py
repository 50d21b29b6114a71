"""The best-dev model of an eval job is kept as a transformers folder with its head: transformers' Auto classes load
it with the label names and give workbench's logits; predict gives the job's own predictions on its files; the model
card's metadata states the job's scores, the model's parameter count and the licence chosen."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from workbench.config.root import WorkbenchConfig
from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.export_finetuned import FINETUNED_DIR, FinetunedJob, export_finetuned
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.kinds import task_features
from workbench.evaluation.models import TaskModel, load_for_task
from workbench.evaluation.predict import model_outputs
from workbench.evaluation.readers import read_split
from workbench.inference.config import PredictConfig
from workbench.interop.model_card import CARD_FILE, ModelCardConfig, parse_front_matter
from workbench.stages.predict import predict
from workbench.training.config import HardwareConfig

from .test_custom_tasks import custom_task, topic_examples, write_jsonl

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
ONE_THREAD = HardwareConfig(num_threads=1)
AUTO = {"classification": "AutoModelForSequenceClassification", "token_classification": "AutoModelForTokenClassification",
        "extractive_qa": "AutoModelForQuestionAnswering"}
# float32 rounding only, relative to the logits' scale: the same weights in transformers' class (fused vs separate
# q/k/v products, another summation order); 1e-5 = 84 float32 eps, as tests/interop/test_transformers_roundtrip.py
RTOL = 1e-5


def _allocine_subset(source: Path, target: Path, start: int, count: int) -> str:
    with open(source, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with open(target, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([rows[0], *rows[1 + start: 1 + start + count]])
    return str(target)


def _tasks(shared_data: Path, tmp_path: Path):
    allocine = shared_data / "allocine_fr/train_data_allocine.csv"
    conll = shared_data / "conll2003_en/iob1_original"
    return {
        "classification": TaskConfig(name="allocine_tiny", format="csv", train=str(allocine), dev=str(allocine),
                                     max_train_examples=8, max_eval_examples=12, max_seq_len=40),
        "token_classification": TaskConfig(name="conll_tiny", kind="token_classification", metric="entity_f1", format="conll",
                                           tag_scheme="iob1", language="en", train=str(conll / "eng.train"),
                                           dev=str(conll / "eng.testa"), max_train_examples=8, max_eval_examples=12, max_seq_len=40),
        "extractive_qa": TaskConfig(name="piaf_tiny", kind="extractive_qa", metric="squad", format="squad_json",
                                    train=str(shared_data / "piaf_fr/piaf-v1.0.json"), dev_fraction=0.1,
                                    max_train_examples=8, max_eval_examples=12, max_seq_len=64, doc_stride=24, max_question_len=16),
    }


@pytest.mark.parametrize("kind", list(AUTO))
def test_export_loads_in_transformers_with_labels_and_the_same_logits(kind, tmp_path, shared_data, exportable_model_dir, transformers):
    torch.set_num_threads(1)
    from workbench.evaluation.readers import load_task

    task = _tasks(shared_data, tmp_path)[kind]
    data = load_task(task)
    loaded = load_for_task(exportable_model_dir, kind, len(data.labels))
    randomize_weights(loaded.model.model, seed=1)  # a sharp comparison: every weight non-trivial, the head's too
    job = FinetunedJob("tiny", task, data.labels, {}, {"dev": {}}, {"lr": 1e-3}, 0, str(exportable_model_dir), "fp32", "cpu")
    folder = export_finetuned(tmp_path / FINETUNED_DIR, loaded, job)

    theirs = getattr(transformers, AUTO[kind]).from_pretrained(str(folder)).eval()
    if kind != "extractive_qa":
        assert theirs.config.id2label == dict(enumerate(data.labels))
        assert theirs.config.label2id == {label: i for i, label in enumerate(data.labels)}
    features = task_features(task, data.dev, loaded.tokenizer, data.labels)
    ours = model_outputs(loaded.model, features, 8, torch.device("cpu"), loaded.tokenizer.pad_id)
    hf = model_outputs(TaskModel(theirs, "transformers", kind, theirs.base_model), features, 8, torch.device("cpu"),
                       loaded.tokenizer.pad_id)
    for name in ("logits", "start_logits", "end_logits"):
        if getattr(ours, name) is None:
            continue
        mine, their = np.concatenate(getattr(ours, name)), np.concatenate(getattr(hf, name))
        assert_close_scaled(their, mine, RTOL, f"{kind} {name}")
        assert (their.argmax(-1) == mine.argmax(-1)).all()
    # the tokenizer files travel with it: AutoTokenizer gives the ids workbench's features were built from
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    text = "Le camembert est un fromage normand, n'est-ce pas ?"
    assert hf_tokenizer(text)["input_ids"] == loaded.tokenizer.build_inputs(loaded.tokenizer.encode(text))[0]


def _predict(tmp_path, model: Path, input_file: str, name: str, **keys) -> list:
    cfg = WorkbenchConfig(predict=PredictConfig(model=str(model), input_file=input_file, output=str(tmp_path / f"{name}.jsonl"), **keys))
    output = predict(cfg)
    assert json.loads((tmp_path / f"{name}.manifest.json").read_text())["examples"] > 0
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


def test_eval_job_keeps_its_model_predict_matches_the_job_and_the_card_states_its_scores(tmp_path, shared_data, exportable_model_dir, transformers):
    allocine = shared_data / "allocine_fr/train_data_allocine.csv"
    train = _allocine_subset(allocine, tmp_path / "train.csv", 0, 16)
    test = _allocine_subset(allocine, tmp_path / "test.csv", 100, 12)
    task = TaskConfig(name="allocine_tiny", format="csv", train=train, dev=train, test=test, max_seq_len=32)
    finetune = FinetuneConfig(model=str(exportable_model_dir), model_name="tiny", lr=2e-3, epochs=3, batch_size=8, warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=2, evals_dir=tmp_path / "evals",
                           card=ModelCardConfig(license="cc-by-4.0"))
    folder = result.run_dir / FINETUNED_DIR
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder))
    assert set(model.config.id2label.values()) == {"0", "1"}

    for split, path in (("dev", train), ("test", test)):
        job = [json.loads(line) for line in (result.run_dir / "predictions" / f"{split}.jsonl").read_text().splitlines()]
        records = _predict(tmp_path, folder, path, split)
        assert [r["label"] for r in records] == [r["prediction"] for r in job]
        assert all(r["score"] == max(r["scores"].values()) and abs(sum(r["scores"].values()) - 1) < 1e-6 for r in records)
        gold = [e.label for e in read_split(task, path)]
        accuracy = 100.0 * np.mean([r["label"] == g for r, g in zip(records, gold)])
        assert accuracy == pytest.approx(result.scores[split]["accuracy"])

    meta = parse_front_matter((folder / CARD_FILE).read_text(encoding="utf-8"))
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["fr"] and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification" and meta["datasets"] == ["allocine_tiny"]
    metrics = {r["dataset"]["split"]: r["metrics"][0] for r in meta["model-index"][0]["results"]}
    assert metrics["test"]["value"] == pytest.approx(result.scores["test"]["accuracy"], abs=1e-4)  # rounded to 4 places
    assert metrics["dev"]["value"] == pytest.approx(result.scores["dev"]["accuracy"], abs=1e-4)
    assert metrics["test"]["args"]["seeds"] == [2]
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    assert f"- parameters: {model.num_parameters():,}" in card

    # finetune.save=false: no model kept
    other = finetune_task(task, FinetuneConfig(model=str(exportable_model_dir), model_name="tiny-nosave", lr=2e-3, epochs=1,
                                               batch_size=8, save=False), ONE_THREAD, seed=2, evals_dir=tmp_path / "evals")
    assert not (other.run_dir / FINETUNED_DIR).exists() and (other.run_dir / "manifest.json").exists()


def test_multilabel_export_keeps_the_tuned_threshold_and_predict_applies_it(tmp_path, exportable_model_dir, transformers):
    files = {split: write_jsonl(tmp_path / f"{split}.jsonl", topic_examples(n, seed))
             for split, n, seed in (("train", 64, 0), ("dev", 24, 1), ("test", 24, 2))}
    task = custom_task("custom_multilabel", name="topics", **files, max_seq_len=32)
    finetune = FinetuneConfig(model=str(exportable_model_dir), model_name="tiny", lr=3e-3, epochs=3, batch_size=16, warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path / "evals")
    folder = result.run_dir / FINETUNED_DIR
    config = json.loads((folder / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["multi_label_threshold"] == result.scores["dev"]["threshold"]
    job = [json.loads(line) for line in (result.run_dir / "predictions" / "test.jsonl").read_text().splitlines()]
    records = _predict(tmp_path, folder, files["test"], "topics")
    assert [r["labels"] for r in records] == [r["prediction"] for r in job]
    assert all(r["threshold"] == config["multi_label_threshold"] for r in records)
    assert all(sorted(r["labels"]) == sorted(l for l, p in r["scores"].items() if p >= r["threshold"]) for r in records)


def test_a_fine_tuned_transformers_model_is_saved_with_its_labels_and_tokenizer(tmp_path, shared_data, minilm_dir, transformers):
    torch.set_num_threads(1)
    from workbench.evaluation.readers import load_task

    task = _tasks(shared_data, tmp_path)["classification"]
    data = load_task(task)
    torch.manual_seed(0)
    loaded = load_for_task(minilm_dir, "classification", len(data.labels))
    job = FinetunedJob("minilm", task, data.labels, {}, {"dev": {"accuracy": 50.0}}, {"lr": 1e-4}, 0, str(minilm_dir), "fp32", "cpu")
    folder = export_finetuned(tmp_path / FINETUNED_DIR, loaded, job)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    assert theirs.config.id2label == dict(enumerate(data.labels)) and theirs.config.problem_type == "single_label_classification"
    features = task_features(task, data.dev, loaded.tokenizer, data.labels)
    ours = model_outputs(loaded.model, features, 8, torch.device("cpu"), loaded.tokenizer.pad_id)
    hf = model_outputs(TaskModel(theirs, "transformers", "classification", theirs.base_model), features, 8,
                       torch.device("cpu"), loaded.tokenizer.pad_id)
    assert_close_scaled(np.stack(hf.logits), np.stack(ours.logits), RTOL, "MiniLM logits")  # the same class, reloaded
    text = "Le camembert est un fromage normand."
    assert transformers.AutoTokenizer.from_pretrained(str(folder))(text)["input_ids"] == \
        transformers.AutoTokenizer.from_pretrained(str(minilm_dir))(text)["input_ids"]
    meta = parse_front_matter((folder / CARD_FILE).read_text(encoding="utf-8"))
    assert meta["license"] == "other" and meta["model-index"][0]["results"][0]["metrics"][0]["value"] == 50.0
