"""``train ... tracking=mlflow``, read back from the local MLflow store with MLflow's own client: the store is
paths.runs/mlflow.db, the params are the resolved config flattened, the metric history equals metrics.jsonl step for
step (also across a stop and resume: one MLflow run, each step once), and the config, metrics, the model's
manifest and the model folder are the run's artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.stages.train import train
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config

pytest.importorskip("mlflow", reason="tracking=mlflow needs MLflow: pip install -e .[tracking] (part of .[dev])")


def test_pretraining_run_is_tracked_and_resumed_in_one_mlflow_run(sample_artifacts, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may be written outside paths.runs (MLflow's default would be ./mlruns)
    runs = tmp_path / "runs"
    overrides = [*TINY_RUN, *sample_artifacts.paths(runs), "trainer.max_steps=6", "trainer.eval_every=3",
                 "trainer.checkpoint_every=3", "run_name=tracked", "tracking=mlflow"]
    stopped = train(compose_config("pipeline", [*overrides, "trainer.stop_at_step=3"]))
    assert stopped.stopped_early and list(cwd.iterdir()) == []
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("workbench-train")
    [first] = client.search_runs([experiment.experiment_id])
    assert first.info.status == "KILLED"  # stopped: resumable

    train(compose_config("pipeline", overrides))
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_id == first.info.run_id and run.info.status == "FINISHED" and run.info.run_name == "tracked"
    params = run.data.params
    assert params["trainer.max_steps"] == "6" and params["model.hidden_size"] == "32" and params["run_name"] == "tracked"
    assert params["trainer.optimizer.betas"] == "[0.9, 0.98]" and params["tracking.backend"] == "mlflow"
    assert run.data.tags["workbench.kind"] == "pretraining"

    def history(key):
        return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]

    rows = read_metrics(runs / "tracked", "train")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "mlm_accuracy", "lr", "grad_norm"):  # float64 in both: the same numbers exactly
        assert history(f"train/{key}") == [(r["step"], r[key]) for r in rows], key
    valid = read_metrics(runs / "tracked", "valid")
    assert history("valid/loss") == [(r["step"], r["loss"]) for r in valid] and [r["step"] for r in valid] == [3, 6]

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.jsonl", "manifest.json", "model"} <= artifacts
    assert "model/model.safetensors" in {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(runs / "mlartifacts")
