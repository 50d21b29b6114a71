"""The results database: idempotent job storage, replacement semantics, curves, schema checks."""

from __future__ import annotations

import sqlite3

import pytest

from workbench.evaluation.errors import ResultsError
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB, hparams_hash


def record(seed=1, lr=3e-5, dev=80.0, test=78.0, model="m", curves=None) -> JobRecord:
    key = JobKey(model, "abc123", "xnli_fr", seed, {"lr": lr, "epochs": 3.0})
    return JobRecord(key, "fr", "accuracy", {"dev": {"accuracy": dev}, "test": {"accuracy": test}},
                     curves if curves is not None else [CurvePoint("dev", "accuracy", 10, 1.0, dev)],
                     created="2024-01-01T00:00:00", code_version="workbench 0.1.0", run_dir="evals/runs/x")


def test_storing_the_same_job_twice_does_not_duplicate(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    assert db.store(record()) == 2
    assert db.store(record()) == 2
    assert db.count() == 2 and len(db.curves()) == 1
    db.store(record(dev=85.0, curves=[CurvePoint("dev", "accuracy", 5, 0.5, 70.0), CurvePoint("dev", "accuracy", 10, 1.0, 85.0)]))
    rows = db.results()
    assert db.count() == 2 and {r.split: r.value for r in rows} == {"dev": 85.0, "test": 78.0}
    assert [c.step for c in db.curves()] == [5, 10]  # the job's old curve is replaced, not merged


def test_other_seeds_hyperparameters_and_models_are_new_rows(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    for seed in (1, 2, 3):
        for lr in (1e-5, 3e-5):
            db.store(record(seed=seed, lr=lr))
    db.store(record(model="other"))
    assert db.count() == 2 * 7
    assert {r.hparams_hash for r in db.results(models=["m"])} == {hparams_hash({"lr": 1e-5, "epochs": 3.0}), hparams_hash({"lr": 3e-5, "epochs": 3.0})}
    row = db.results(models=["other"])[0]
    assert (row.model, row.checkpoint_hash, row.task, row.language, row.seed, row.hparams, row.code_version) == (
        "other", "abc123", "xnli_fr", "fr", 1, {"lr": 3e-5, "epochs": 3.0}, "workbench 0.1.0"
    )


def test_a_removed_metric_does_not_linger(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    rec = record()
    rec.scores["test_mismatched"] = {"accuracy": 70.0}
    db.store(rec)
    db.store(record())
    assert sorted(r.split for r in db.results()) == ["dev", "test"]


def test_hparams_hash_is_order_independent():
    assert hparams_hash({"a": 1, "b": [1, 2]}) == hparams_hash({"b": [1, 2], "a": 1})
    assert hparams_hash({"a": 1}) != hparams_hash({"a": 2})


def test_unique_key_is_enforced_by_sqlite(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsDB(path).store(record())
    connection = sqlite3.connect(path)
    row = connection.execute("SELECT * FROM results LIMIT 1").fetchone()
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute(f"INSERT INTO results VALUES ({','.join('?' * len(row))})", row)
    connection.close()


def test_schema_version_mismatch_is_a_clear_error(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsDB(path)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(ResultsError, match="schema version 99"):
        ResultsDB(path)
