"""Exact resume: a run killed with SIGKILL and rerun ends with the same bits as an uninterrupted run;
SIGTERM writes a checkpoint and exits cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from workbench.training import checkpoint as ckpt
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, cli_env, run_cli

STEPS = 40  # long enough that a kill at the first checkpoint lands mid-run
RUN = [*TINY_RUN, f"trainer.max_steps={STEPS}", "trainer.eval_every=10", "run_name=resume"]


def _command(sample_artifacts, runs: Path):
    return ["train", *RUN, *sample_artifacts.paths(runs)]


def _start(sample_artifacts, runs: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench", *_command(sample_artifacts, runs)], cwd=cwd,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_checkpoint(process: subprocess.Popen, checkpoints: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ckpt.list_checkpoints(checkpoints) or not all((p / ckpt.META).exists() for p in ckpt.list_checkpoints(checkpoints)):
        assert process.poll() is None, f"training exited before its first checkpoint:\n{process.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)


def _weights(run_dir: Path):
    return load_file(str(run_dir / "model" / "model.safetensors"))


def _train_rows_by_step(run_dir: Path):
    return {row["step"]: row for row in read_metrics(run_dir, "train")}


@pytest.fixture(scope="module")
def uninterrupted(sample_artifacts, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs-uninterrupted")
    done = run_cli(_command(sample_artifacts, runs), cwd=runs)
    assert done.returncode == 0, done.stderr[-3000:]
    return runs / "resume"


def test_sigkill_then_rerun_gives_bitwise_identical_parameters(sample_artifacts, uninterrupted, tmp_path):
    runs = tmp_path / "runs"
    process = _start(sample_artifacts, runs, tmp_path)
    _wait_for_checkpoint(process, runs / "resume" / "checkpoints")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stdout.close()
    reached = max(int(p.name.split("-")[1]) for p in ckpt.list_checkpoints(runs / "resume" / "checkpoints"))
    assert reached < STEPS and not (runs / "resume" / "model").exists(), "the kill did not land mid-run"

    resumed = run_cli(_command(sample_artifacts, runs), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"(step {reached})" in resumed.stdout + resumed.stderr  # "resumed from .../step-N (step N)"

    expected, actual = _weights(uninterrupted), _weights(runs / "resume")
    assert expected.keys() == actual.keys()
    different = [name for name in expected if not torch.equal(expected[name], actual[name])]
    assert not different, f"parameters differ after resume: {different}"
    # the pretraining tokens recorded in the last checkpoint (the x axis of eval's pretraining-gain curve) survive it
    last = f"step-{STEPS:08d}"
    tokens = [ckpt.load_checkpoint(run / "checkpoints" / last).state["tokens"] for run in (uninterrupted, runs / "resume")]
    assert tokens[0] == tokens[1] > 0
    # the logged losses after the resume point are the same numbers too
    # metrics.jsonl holds each step once: the rows of steps trained again after the kill were dropped
    assert [row["step"] for row in read_metrics(runs / "resume", "train")] == list(range(1, STEPS + 1))
    reference, rerun = _train_rows_by_step(uninterrupted), _train_rows_by_step(runs / "resume")
    assert [rerun[s]["loss"] for s in rerun] == [reference[s]["loss"] for s in rerun]
    assert [rerun[s]["lr"] for s in rerun] == [reference[s]["lr"] for s in rerun]


def test_sigterm_writes_a_checkpoint_and_exits_cleanly(sample_artifacts, uninterrupted, tmp_path):
    runs = tmp_path / "runs"
    checkpoints = runs / "resume" / "checkpoints"
    process = _start(sample_artifacts, runs, tmp_path)
    _wait_for_checkpoint(process, checkpoints)
    process.send_signal(signal.SIGTERM)
    stderr, _ = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-3000:]
    assert "stop requested: checkpoint written at step" in stderr
    assert not (runs / "resume" / "model").exists()  # an interrupted run is not a finished model
    latest = ckpt.load_latest(checkpoints)
    stopped_at = int(stderr.split("checkpoint written at step ")[1].split()[0].rstrip(";"))
    assert latest.step == stopped_at < STEPS
    # the checkpoint written on SIGTERM is the state of that step: its logged loss matches the reference run
    reference = _train_rows_by_step(uninterrupted)
    assert _train_rows_by_step(runs / "resume")[stopped_at]["loss"] == reference[stopped_at]["loss"]
