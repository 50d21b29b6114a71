"""bf16 autocast through the real training loop on CPU: the same run as fp32 within bf16's precision."""

from __future__ import annotations

import math

import pytest
import torch

from workbench.stages.train import train
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config


def _losses(sample_artifacts, runs, name, precision):
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(runs), "trainer.max_steps=8", "trainer.eval_every=0",
                                      "trainer.checkpoint_every=100", f"run_name={name}", f"hardware.precision={precision}"])
    train(cfg)
    return [row["loss"] for row in read_metrics(runs / name, "train")]


def test_bf16_training_tracks_fp32_on_cpu(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    fp32 = _losses(sample_artifacts, tmp_path, "fp32", "fp32")
    bf16 = _losses(sample_artifacts, tmp_path, "bf16", "bf16")
    assert len(bf16) == len(fp32) == 8 and all(math.isfinite(loss) for loss in bf16)
    assert bf16 != fp32  # autocast really ran in bf16 ...
    for ours, reference in zip(bf16, fp32):  # ... and stays within bf16's ~3 significant digits of fp32
        assert ours == pytest.approx(reference, rel=0.02)
