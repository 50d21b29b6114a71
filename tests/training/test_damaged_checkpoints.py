"""Every checkpoint damaged: the run stops listing each and why (it never restarts silently from step 0 over
them); trainer.restart=true starts over explicitly. One damaged latest checkpoint still falls back (test_checkpoint)."""

from __future__ import annotations

import logging

import pytest
import torch

from workbench.artifacts.hashing import sha256_file
from workbench.stages.train import train
from workbench.training import checkpoint as ckpt
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config


def _state(step: int) -> dict:
    return {"step": step, "rng": ckpt.rng_state()}


def test_no_checkpoint_loading_is_an_error_listing_each(tmp_path, caplog):
    for step in (1, 2):
        ckpt.save_checkpoint(tmp_path, step, {"w": torch.ones(10)}, _state(step), keep_last=5)
    (tmp_path / "step-00000001" / ckpt.WEIGHTS).write_bytes(b"x")  # truncated
    (tmp_path / "step-00000002" / ckpt.META).unlink()  # never finished
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load_latest(tmp_path)
    message = str(error.value)
    assert f"none of the 2 checkpoints in {tmp_path} loads" in message
    assert f"{tmp_path / 'step-00000001' / ckpt.WEIGHTS}: checksum mismatch" in message
    assert f"{tmp_path / 'step-00000002'}: incomplete checkpoint (no {ckpt.META})" in message
    assert "trainer.restart=true" in message
    with caplog.at_level(logging.WARNING):
        assert ckpt.load_latest(tmp_path, restart=True) is None
    assert "starting over from step 0" in caplog.text
    assert ckpt.load_latest(tmp_path / "none") is None  # no checkpoint at all: a new run


def _config(sample_artifacts, runs, *extra):
    return compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(runs), "trainer.eval_every=0",
                                       "trainer.checkpoint_every=2", "trainer.max_steps=8", "run_name=damaged", *extra])


def test_a_run_whose_checkpoints_are_all_damaged_stops_and_restarts_only_when_asked(sample_artifacts, tmp_path):
    runs = tmp_path / "runs"
    first = train(_config(sample_artifacts, runs, "trainer.stop_at_step=4"))
    run_dir = first.run_dir
    checkpoints = run_dir / "checkpoints"
    assert [p.name for p in ckpt.list_checkpoints(checkpoints)] == ["step-00000002", "step-00000004"]
    for path in ckpt.list_checkpoints(checkpoints):
        weights = path / ckpt.WEIGHTS
        weights.write_bytes(weights.read_bytes()[:100])
    files = {p: sha256_file(p) for p in sorted(run_dir.rglob("*")) if p.is_file() and "tensorboard" not in p.parts}

    with pytest.raises(ckpt.CheckpointError, match="none of the 2 checkpoints") as error:
        train(_config(sample_artifacts, runs, "trainer.stop_at_step=4"))  # the same command again
    assert "step-00000002" in str(error.value) and "step-00000004" in str(error.value)
    after = {p: sha256_file(p) for p in sorted(run_dir.rglob("*")) if p.is_file() and "tensorboard" not in p.parts}
    assert after == files  # checkpoints, metrics.jsonl and config untouched; no model/ written

    restarted = train(_config(sample_artifacts, runs, "trainer.restart=true"))
    assert restarted.steps == 8 and not restarted.stopped_early
    assert [row["step"] for row in read_metrics(run_dir, "train")] == list(range(1, 9))  # from step 0, once each
    steps = [ckpt.load_checkpoint(p).step for p in ckpt.list_checkpoints(checkpoints)]
    assert steps == [2, 4, 6, 8]  # all new: the damaged ones were deleted, none was kept as "newest"
