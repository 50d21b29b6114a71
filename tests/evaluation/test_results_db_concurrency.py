"""Concurrent eval jobs (a multirun) all store their results; only a write lock held too long is an error."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.evaluation.errors import ResultsError
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB

REPO = Path(__file__).resolve().parents[2]
JOBS = 40  # per process

WRITER = textwrap.dedent(
    """
    import sys
    from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB
    db = ResultsDB(sys.argv[1])
    for seed in range(int(sys.argv[3])):
        key = JobKey(sys.argv[2], "abc", "xnli_fr", seed, {"lr": 1e-5})
        curves = [CurvePoint("dev", "accuracy", step, step / 10, 50.0 + step) for step in range(20)]
        db.store(JobRecord(key, "fr", "accuracy", {"dev": {"accuracy": 80.0 + seed}, "test": {"accuracy": 70.0}}, curves))
    """
)


def test_parallel_jobs_all_store_their_results(tmp_path):
    path = tmp_path / "results.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), model, str(JOBS)], env=env, stderr=subprocess.PIPE, text=True)
        for model in ("model-a", "model-b", "model-c")
    ]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    db = ResultsDB(path)
    assert db.count() == 3 * JOBS * 2  # every job of every process: two result rows each
    assert len(db.curves()) == 3 * JOBS * 20


def test_a_write_lock_held_too_long_is_one_clear_error(tmp_path):
    path = tmp_path / "results.sqlite"
    db = ResultsDB(path, timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process's write transaction that does not end
    try:
        key = JobKey("m", "abc", "xnli_fr", 0, {"lr": 1e-5})
        with pytest.raises(ResultsError) as error:
            db.store(JobRecord(key, "fr", "accuracy", {"dev": {"accuracy": 1.0}}, [CurvePoint("dev", "accuracy", 1, 1.0, 1.0)]))
        message = str(error.value)
        assert f"results database {path}: another process held its write lock for more than 0.2 s" in message
        assert "nothing was written" in message
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert db.count() == 0
