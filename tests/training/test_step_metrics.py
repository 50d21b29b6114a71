"""The logged gradient norm is the norm before clipping, computed only when a step is logged (or clipped), and the
same number whatever the logging interval."""

from __future__ import annotations

import pytest
import torch

from workbench.stages.train import train
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config


def _rows(sample_artifacts, runs, name, *extra):
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(runs), "trainer.max_steps=8", "trainer.eval_every=0",
                                      "trainer.checkpoint_every=100", f"run_name={name}", *extra])
    train(cfg)
    return {row["step"]: row for row in read_metrics(runs / name, "train")}


def test_grad_norm_is_the_norm_before_clipping_whatever_the_logging_interval(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    unclipped = _rows(sample_artifacts, tmp_path, "unclipped", "trainer.grad_clip=0")
    clipped = _rows(sample_artifacts, tmp_path, "clipped", "trainer.grad_clip=0.001")
    sparse = _rows(sample_artifacts, tmp_path, "sparse", "trainer.grad_clip=0", "trainer.log_every=4")
    # step 1: same weights, same batch, same gradients: the clipped run logs the norm it clipped from
    assert clipped[1]["grad_norm"] == pytest.approx(unclipped[1]["grad_norm"], rel=1e-6)
    assert clipped[1]["grad_norm"] > 0.01  # so clipping to 0.001 acted ...
    assert clipped[2]["loss"] != unclipped[2]["loss"]  # ... and changed the update
    # logging every 4 steps: rows 4 and 8 only, with the numbers of the run that logs every step
    assert list(sparse) == [4, 8]
    for step in (4, 8):
        assert sparse[step]["grad_norm"] == unclipped[step]["grad_norm"]
        assert sparse[step]["loss"] == unclipped[step]["loss"]
        assert sparse[step]["tokens_per_second"] > 0 and 0 <= sparse[step]["data_fraction"] < 1
