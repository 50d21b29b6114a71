"""Fine-tuning under the shared precision policy and non-finite-loss rule (workbench.training.train_step)."""

from __future__ import annotations

import math

import pytest

from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.kinds import TrainingLoss
from workbench.training.config import HardwareConfig


def _task(shared_data):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    return TaskConfig(name="allocine_tiny", format="csv", train=csv_path, dev=csv_path, max_train_examples=16,
                      max_eval_examples=16, max_seq_len=32)


def test_fp16_on_cpu_is_refused_with_the_pretraining_message(tmp_path, shared_data, tiny_model_dir):
    with pytest.raises(FinetuneError, match=r"hardware.precision=fp16 needs a GPU; use bf16 or fp32 on CPU"):
        finetune_task(_task(shared_data), FinetuneConfig(model=str(tiny_model_dir)),
                      HardwareConfig(num_threads=1, precision="fp16"), 0, tmp_path)


def test_a_non_finite_loss_stops_the_job_at_that_step(tmp_path, shared_data, tiny_model_dir, monkeypatch):
    original = TrainingLoss.__call__
    calls = {"n": 0}

    def poisoned(self, outputs, batch_indices):
        calls["n"] += 1
        loss = original(self, outputs, batch_indices)
        return loss * math.nan if calls["n"] == 2 else loss

    monkeypatch.setattr(TrainingLoss, "__call__", poisoned)
    finetune = FinetuneConfig(model=str(tiny_model_dir), lr=1e-3, epochs=1, batch_size=8)
    with pytest.raises(FinetuneError, match=r"allocine_tiny: non-finite training loss at step 1 \(lr=0.001\); lower finetune.lr"):
        finetune_task(_task(shared_data), finetune, HardwareConfig(num_threads=1), 0, tmp_path)
    assert calls["n"] == 2 and not list(tmp_path.glob("runs/*/*/*/seed-0/manifest.json"))  # nothing stored
