"""Dev evaluation passes of a fine-tuning job: one per evaluation point (E epochs: E dev passes, none repeated
after reloading the best weights), the reported dev results those of the best evaluation, equal to a
recomputation from the best weights, and ``finetune.eval_every`` choosing steps or epochs."""

from __future__ import annotations

import json

import pytest

import workbench.evaluation.finetune as finetune_module
from workbench.config.choices import ConfigError
from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.predict import decode_predictions, model_outputs, score_predictions, tune_decoding
from workbench.evaluation.readers import load_task
from workbench.training.config import HardwareConfig

ONE_THREAD = HardwareConfig(num_threads=1)


@pytest.fixture
def passes(monkeypatch):
    """Every ``model_outputs`` call of the job: (model, features, args, kwargs)."""
    calls = []
    original = finetune_module.model_outputs

    def counted(model, features, *args, **kwargs):
        calls.append((model, features, args, kwargs))
        return original(model, features, *args, **kwargs)

    monkeypatch.setattr(finetune_module, "model_outputs", counted)
    return calls


def _allocine(shared_data, name: str, n: int = 32) -> TaskConfig:
    folder = shared_data / "allocine_fr"
    return TaskConfig(name=name, format="csv", train=str(folder / "train_data_allocine.csv"),
                      dev=str(folder / "test_data_allocine_full.csv"), test=str(folder / "test_data_allocine.csv"),
                      max_train_examples=n, max_eval_examples=n, max_seq_len=32)


def _dev_points(result):
    return [(p.step, p.value) for p in result.curves if p.split == "dev" and p.metric == "accuracy"]


def test_epoch_job_makes_one_dev_pass_per_epoch_and_reports_the_best(tmp_path, shared_data, tiny_model_dir, passes):
    task = _allocine(shared_data, "allocine_passes")
    epochs = 4
    finetune = FinetuneConfig(model=str(tiny_model_dir), lr=2e-3, epochs=epochs, batch_size=8, warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=1, evals_dir=tmp_path)

    dev_features = passes[0][1]  # the first pass is dev's, after epoch 1
    dev_passes = [call for call in passes if call[1] is dev_features]
    assert len(dev_passes) == epochs  # E epochs: E dev passes, not E + 1
    assert len(passes) == epochs + 1  # and one test pass, after them
    assert passes[-1][1] is not dev_features

    points = _dev_points(result)
    assert [step for step, _ in points] == [4, 8, 12, 16]  # 32 examples / batch 8: 4 steps per epoch
    best_step, best_value = max(points, key=lambda point: point[1])  # max keeps the first of equal scores
    assert result.scores["dev"]["accuracy"] == best_value and result.scores["train"]["best_step"] == best_step

    # the reported dev results are those the best weights give again (what the job computed before by a last
    # dev pass after reloading them): bitwise, the same model, features and batches on the same CPU
    model, _, args, kwargs = passes[-1]  # the model holds the best weights when the test split is predicted
    data = load_task(task)
    outputs = model_outputs(model, dev_features, *args, **kwargs)  # the original, not the counting wrapper
    decoding = tune_decoding(task, data.dev, outputs, data.labels)
    predictions = decode_predictions(task, data.dev, dev_features, outputs, data.labels, decoding)
    recomputed = score_predictions(task, data.dev, predictions, data.labels)
    assert {metric: result.scores["dev"][metric] for metric in recomputed} == recomputed
    written = [json.loads(line)["prediction"] for line in (result.run_dir / "predictions" / "dev.jsonl").read_text().splitlines()]
    assert written == predictions
    assert "eval_every" not in result.key.hparams  # per epoch: the job identity (and its hash) of before


def test_multilabel_job_keeps_the_best_threshold(tmp_path, shared_data, tiny_model_dir, passes):
    """Multi-label: the threshold tuned on the best dev pass is the one reported and applied to test."""
    train = tmp_path / "tags.jsonl"
    rows = [{"text": f"{word} {index}", "labels": labels} for index in range(24)
            for word, labels in (("rouge", ["a"]), ("bleu", ["b"]), ("rouge bleu", ["a", "b"]))]
    train.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    task = TaskConfig(name="tags", kind="multilabel_classification", metric="micro_f1", format="jsonl",
                      train=str(train), dev=str(train), test=str(train), label_column="labels", labels=["a", "b"], max_seq_len=16)
    finetune = FinetuneConfig(model=str(tiny_model_dir), lr=3e-3, epochs=3, batch_size=24, warmup_ratio=0.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path / "evals")
    assert len(passes) == 3 + 1
    points = {p.step: p.value for p in result.curves if p.split == "dev" and p.metric == "threshold"}
    best_step = int(result.scores["train"]["best_step"])
    assert result.scores["dev"]["threshold"] == points[best_step]
    assert json.loads((result.run_dir / "metrics.json").read_text())["decoding"] == {"threshold": points[best_step]}


@pytest.mark.parametrize("schedule, expected", [
    ("full", [5, 10, 12]),  # 3 epochs of 4 steps: every 5 steps and the last one
    ("two_phase", [4, 5, 10, 15, 16]),  # head-only phase (steps 1-4) ends at 4, then steps 5-16 of the full phase
])
def test_eval_every_steps_evaluates_at_those_steps(tmp_path, shared_data, tiny_model_dir, passes, schedule, expected):
    task = _allocine(shared_data, f"allocine_every_{schedule}")
    finetune = FinetuneConfig(model=str(tiny_model_dir), lr=2e-3, epochs=3, batch_size=8, warmup_ratio=0.0,
                              eval_every=5, schedule=schedule, frozen_epochs=1.0)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    points = _dev_points(result)
    assert [step for step, _ in points] == expected
    assert len(passes) == len(expected) + 1
    best_step, best_value = max(points, key=lambda point: point[1])
    assert result.scores["dev"]["accuracy"] == best_value and result.scores["train"]["best_step"] == best_step
    assert result.key.hparams["eval_every"] == 5  # other evaluation points select other weights: another job


def test_eval_every_is_checked():
    assert FinetuneConfig().eval_every_steps is None
    assert FinetuneConfig(eval_every="200").eval_every_steps == 200 == FinetuneConfig(eval_every=200).eval_every_steps
    for bad in ("0", "steps", "-5", "1.5"):
        with pytest.raises(ConfigError, match=rf"finetune.eval_every='{bad}' is not valid; use 'epoch' .* e.g. finetune.eval_every=200"):
            FinetuneConfig(eval_every=bad)
