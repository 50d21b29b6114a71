"""2 processes (torchrun, gloo on CPU) and 1 process with the same global batch log the same losses."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, assert_same_training_steps, run_cli, run_torchrun

# Dropout off: its masks come from each process's own RNG stream, so they cannot match a different split.
# Everything else (masks seeded per sample, data order, loss normalized by the global masked count) must.
RUN = [*TINY_RUN, "model.dropout=0.0", "model.attention_dropout=0.0", "trainer.max_steps=8",
       "trainer.global_batch_size=16", "trainer.micro_batch_size=4", "trainer.eval_every=4", "run_name=ddp"]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(sample_artifacts, tmp_path):
    single_runs, ddp_runs = tmp_path / "single", tmp_path / "ddp"
    single = run_cli(["train", *RUN, *sample_artifacts.paths(single_runs)], cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run_torchrun(["train", *RUN, *sample_artifacts.paths(ddp_runs), "hardware.devices=2", "hardware.strategy=ddp"], cwd=tmp_path)
    assert ddp.returncode == 0, (ddp.stdout + ddp.stderr)[-3000:]

    one, two = read_metrics(single_runs / "ddp", "train"), read_metrics(ddp_runs / "ddp", "train")
    assert_same_training_steps(one, two, steps=8)
    valid_one, valid_two = read_metrics(single_runs / "ddp", "valid"), read_metrics(ddp_runs / "ddp", "valid")
    assert [r["loss"] for r in valid_two] == pytest.approx([r["loss"] for r in valid_one], rel=1e-5)
    a = load_file(str(single_runs / "ddp" / "model" / "model.safetensors"))
    b = load_file(str(ddp_runs / "ddp" / "model" / "model.safetensors"))
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-6)
