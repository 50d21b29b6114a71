"""Two train processes on one run folder: the second fails at once naming the first; metrics stay one run's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from workbench.artifacts.locking import LOCK_FILE
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, cli_env, run_cli


def test_a_second_train_on_the_same_run_is_refused(sample_artifacts, tmp_path):
    runs = tmp_path / "runs"
    command = ["train", *TINY_RUN, "trainer.max_steps=100000", "trainer.checkpoint_every=100000", "trainer.eval_every=0",
               "run_name=locked", *sample_artifacts.paths(runs)]
    first = subprocess.Popen([sys.executable, "-m", "workbench", *command], cwd=tmp_path, env=cli_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run_dir = runs / "locked"
    try:
        deadline = time.monotonic() + 120
        while not read_metrics(run_dir, "train"):  # the first one is training (it holds the lock from before step 1)
            assert first.poll() is None, first.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the first run did not start training"
            time.sleep(0.1)
        holder = json.loads((run_dir / LOCK_FILE).read_text())
        assert holder["pid"] == first.pid

        second = run_cli(command, cwd=tmp_path)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"{run_dir} is in use: pid {first.pid} on host {holder['host']}" in second.stderr
        assert first.poll() is None  # the first one goes on
    finally:
        first.send_signal(signal.SIGTERM)  # a checkpoint, then a clean exit
        first.wait(timeout=120)
    assert first.returncode == 0
    steps = [row["step"] for row in read_metrics(run_dir, "train")]
    assert steps == list(range(1, len(steps) + 1))  # one run's rows, never interleaved with another's
    assert not (run_dir / LOCK_FILE).exists()
