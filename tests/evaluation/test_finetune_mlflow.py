"""``eval ... tracking=mlflow`` through the stage, read back from the local MLflow store with MLflow's own client:
the store is paths.evals/mlflow.db, the params are the job's resolved config, the metrics equal curves.jsonl and
the scores step for step, and the finished job folder is the run's artifacts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from workbench.training.schedule import finetune_lr_multiplier as lr_multiplier
from workbench.stages.evaluate import evaluate

from ..training.conftest import compose_config

pytest.importorskip("mlflow", reason="tracking=mlflow needs MLflow: pip install -e .[tracking] (part of .[dev])")

SAMPLE = Path(__file__).resolve().parents[2] / "corpora/sample_fr/tasks/sentiment"


def test_eval_job_is_tracked_in_a_local_mlflow_store(tmp_path, tiny_model_dir, monkeypatch):
    from mlflow.tracking import MlflowClient

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may be written outside paths.evals (MLflow's default would be ./mlruns)
    evals = tmp_path / "evals"
    cfg = compose_config("eval", [
        "task=sample_sentiment", f"task.train={SAMPLE}/train.tsv", f"task.dev={SAMPLE}/dev.tsv", f"task.test={SAMPLE}/test.tsv",
        "task.max_train_examples=24", "task.max_eval_examples=16", "task.max_seq_len=32", f"finetune.model={tiny_model_dir}",
        "finetune.model_name=tiny", "finetune.epochs=2", "finetune.batch_size=8", "finetune.log_every=1",
        "finetune.lr=1e-3", "hardware.num_threads=1", f"paths.evals={evals}", "tracking=mlflow", "seed=1",
    ])
    [result] = evaluate(cfg)
    assert list(cwd.iterdir()) == [] and (evals / "mlflow.db").is_file()

    client = MlflowClient(tracking_uri=f"sqlite:///{evals / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("workbench-eval")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == f"tiny/sample_sentiment/{result.key.hparams_hash}/seed-1"
    assert run.data.tags["workbench.kind"] == "finetuning" and run.data.tags["workbench.job_hash"] == result.key.hparams_hash
    params = run.data.params
    assert params["task.name"] == "sample_sentiment" and params["finetune.lr"] == "0.001" and params["seed"] == "1"
    assert params["hyperparameters.batch_size"] == "8" and params["task.labels"] == '["neg", "pos"]'

    curves = [json.loads(line) for line in (result.run_dir / "curves.jsonl").read_text(encoding="utf-8").splitlines()]

    def history(key):
        return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]

    def curve(split, metric):
        return [(c["step"], c["value"]) for c in curves if c["split"] == split and c["metric"] == metric]

    # MLflow stores metric values as float64: equal to the logged numbers exactly
    assert history("train/loss") == curve("train", "loss") and len(curve("train", "loss")) == 6
    assert history("dev/accuracy") == curve("dev", "accuracy")
    total, warmup = 6, int(0.1 * 6)  # the recipe's warmup_ratio 0.1 of 6 steps (24 examples / 8, 2 epochs)
    expected_lr = [(s, 1e-3 * lr_multiplier(s - 1, total, warmup, "linear")) for s in range(1, 7)]
    assert [s for s, _ in history("train/lr")] == list(range(1, 7))
    # the lr is computed in float64 by the loop and stored as float64: equal up to rounding of the product
    assert all(math.isclose(a, e, rel_tol=1e-12) for (_, a), (_, e) in zip(history("train/lr"), expected_lr))
    for split in ("dev", "test"):
        assert history(f"final/{split}/accuracy") == [(6, result.scores[split]["accuracy"])]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"manifest.json", "metrics.json", "curves.jsonl", "predictions", "tensorboard"} <= artifacts
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(evals / "mlartifacts")
