"""bf16 fine-tuning on CPU: the same job as fp32 within bf16's precision, and the precision in the job's manifest."""

from __future__ import annotations

import json

import pytest

from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.hardware.cpu_features import cpu_features
from workbench.training.config import HardwareConfig


def _train_losses(result):
    return [p.value for p in result.curves if p.split == "train" and p.metric == "loss"]


def test_bf16_fine_tuning_tracks_fp32(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="allocine_tiny", format="csv", train=csv_path, dev=csv_path,
                      max_train_examples=32, max_eval_examples=16, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=2e-3, epochs=3, batch_size=8,
                              warmup_ratio=0.0, evals_per_epoch=1)
    results = {}
    for precision in ("fp32", "bf16", "auto"):  # separate folders: a job's identity does not include the precision
        hardware = HardwareConfig(num_threads=1, precision=precision)
        results[precision] = finetune_task(task, finetune, hardware, seed=1, evals_dir=tmp_path / precision)
    fp32, bf16 = _train_losses(results["fp32"]), _train_losses(results["bf16"])
    assert len(fp32) == len(bf16) > 0 and fp32 != bf16  # autocast really ran in bf16 ...
    # ... and the mean training loss stays within 1% (bf16 keeps ~3 significant digits per value)
    assert sum(bf16) / len(bf16) == pytest.approx(sum(fp32) / len(fp32), rel=0.01)
    expected = "bf16" if cpu_features().native_bf16 else "fp32"
    for precision, wanted in (("bf16", "bf16"), ("auto", expected)):
        manifest = json.loads((results[precision].run_dir / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["precision"] == wanted and manifest["cpu"]["native_bf16"] == cpu_features().native_bf16
    assert _train_losses(results["auto"]) == _train_losses(results[expected])
