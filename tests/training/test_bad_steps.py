"""Non-finite losses: the update is skipped with a warning; max_bad_steps in a row stop training with a
clear error and leave the last good checkpoint intact."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from workbench.model.pretraining import PretrainingModel
from workbench.stages.prepare import prepare_shards
from workbench.stages.train import train
from workbench.training import checkpoint as ckpt
from workbench.training.loop import TrainingError
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config

ACCUMULATION = 2  # global 16 / micro 8: two forward passes per optimizer step (no validation: eval_every=0)


def _config(sample_artifacts, runs, *extra):
    return compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(runs), "trainer.eval_every=0",
                                       "trainer.checkpoint_every=2", "trainer.max_bad_steps=3", "run_name=nan", *extra])


def _poison(monkeypatch, bad_attempts):
    """Make the loss NaN in the given optimizer-step attempts (1-based, counting skipped ones)."""
    original = PretrainingModel.forward
    calls = {"n": 0}
    seen_weights = []

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        attempt = (calls["n"] - 1) // ACCUMULATION + 1
        if (calls["n"] - 1) % ACCUMULATION == 0:
            seen_weights.append(self.mlm_head.decoder.weight.detach().clone())
        out = original(self, *args, **kwargs)
        if attempt in bad_attempts:
            out.mlm_loss = out.mlm_loss * float("nan")
        return out

    monkeypatch.setattr(PretrainingModel, "forward", forward)
    return seen_weights


def test_nan_loss_skips_the_update_with_a_warning(sample_artifacts, tmp_path, monkeypatch, caplog):
    torch.set_num_threads(1)
    weights = _poison(monkeypatch, bad_attempts={3, 4})
    with caplog.at_level(logging.WARNING, logger="workbench.training.loop"):
        result = train(_config(sample_artifacts, tmp_path))
    assert result.steps == 12 and not result.stopped_early
    assert "step 3: non-finite loss (nan); update skipped (1 in a row)" in caplog.text
    assert "step 3: non-finite loss (nan); update skipped (2 in a row)" in caplog.text
    # attempts 3 and 4 changed nothing: attempts 3, 4 and 5 start from the same weights
    assert torch.equal(weights[2], weights[3]) and torch.equal(weights[3], weights[4])
    assert not torch.equal(weights[4], weights[5])
    rows = read_metrics(tmp_path / "nan", "train")
    assert [r["step"] for r in rows] == list(range(1, 13)) and all(r["loss"] is not None for r in rows)
    state = ckpt.load_latest(tmp_path / "nan" / "checkpoints")
    assert state.step == 12 and all(bool(torch.isfinite(t).all()) for t in state.model_state.values())
    assert (tmp_path / "nan" / "model" / "model.safetensors").exists()


def test_max_bad_steps_in_a_row_stop_with_a_clear_error_and_keep_the_last_good_checkpoint(sample_artifacts, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    _poison(monkeypatch, bad_attempts=set(range(6, 100)))  # steps 1-5 fine, then every loss is NaN
    with pytest.raises(TrainingError, match=r"3 non-finite losses in a row at step 6; stopped\. The last good checkpoint in .*checkpoints is intact"):
        train(_config(sample_artifacts, tmp_path))
    latest = ckpt.load_latest(tmp_path / "nan" / "checkpoints")
    assert latest.step == 4  # checkpoint_every=2: step 5 was not saved, nothing bad was
    assert all(bool(torch.isfinite(t).all()) for t in latest.model_state.values())
    assert not (tmp_path / "nan" / "model").exists()
    assert [r["step"] for r in read_metrics(tmp_path / "nan", "train")] == [1, 2, 3, 4, 5]


def test_stop_at_step_then_other_shards_continue_the_same_schedule(sample_artifacts, tmp_path, caplog):
    """BERT's two phases: stop at 90% of the schedule, go on with other (longer) shards from the checkpoint."""
    torch.set_num_threads(1)
    first = train(_config(sample_artifacts, tmp_path, "trainer.stop_at_step=9"))
    assert first.steps == 9 and first.stopped_early and not (tmp_path / "nan" / "model").exists()
    assert ckpt.load_latest(tmp_path / "nan" / "checkpoints").step == 9
    # the second phase reads 32-token shards of the same text (built here) from their start
    phase2 = _config(sample_artifacts, tmp_path, "packing.max_seq_len=32")
    cwd = os.getcwd()
    os.chdir(Path(__file__).resolve().parents[2])
    try:
        prepare_shards(phase2)
    finally:
        os.chdir(cwd)
    with caplog.at_level(logging.INFO, logger="workbench.training.loop"):
        second = train(phase2)
    assert "resuming on other shards (sample_fr-sample-sentencepiece-full_sentences32" in caplog.text
    assert second.steps == 12 and not second.stopped_early
    rows = read_metrics(tmp_path / "nan", "train")
    assert [r["step"] for r in rows] == list(range(1, 13))
    lrs = [r["lr"] for r in rows]  # one linear schedule over 12 steps, warmup 4
    assert lrs == pytest.approx([1e-3 * m for m in (0.25, 0.5, 0.75, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0.0)])
    assert (tmp_path / "nan" / "model" / "model.safetensors").exists()
