"""Curves in the report: fine-tuning logs the training loss of every step (not one or two points per job) and the
report draws every stored point; pretraining runs (report.runs) get loss, perplexity, MLM accuracy and lr curves."""

from __future__ import annotations

import json
import math
import re

import pytest

from workbench.evaluation.config import FinetuneConfig, ReportConfig, TaskConfig
from workbench.evaluation.errors import ResultsError
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.protocol import summarize
from workbench.evaluation.report import build_report
from workbench.evaluation.report_plots import curve_series, run_figure
from workbench.evaluation.report_runs import read_run
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB
from workbench.training.config import HardwareConfig
from workbench.training.metrics_log import MetricsLogger


def test_finetuning_logs_the_loss_of_every_step_and_the_report_draws_them(tmp_path, repo_root, tiny_model_dir):
    tasks = repo_root / "corpora/sample_fr/tasks/sentiment"
    task = TaskConfig(name="sample_sentiment", train=str(tasks / "train.tsv"), dev=str(tasks / "dev.tsv"),
                      labels=["neg", "pos"], max_train_examples=24, max_eval_examples=8, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=1e-3, epochs=2, batch_size=8)
    result = finetune_task(task, finetune, HardwareConfig(num_threads=1), seed=0, evals_dir=tmp_path)
    # 24 examples / batch 8 = 3 steps per epoch, 2 epochs: one loss record per optimizer step (default log_every=1)
    loss = [p for p in result.curves if p.split == "train" and p.metric == "loss"]
    assert [p.step for p in loss] == [1, 2, 3, 4, 5, 6]
    assert [p.epoch for p in loss] == pytest.approx([1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3, 2.0])
    assert all(math.isfinite(p.value) and p.value > 0 for p in loss)
    written = [json.loads(line) for line in (result.run_dir / "curves.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["step"] for row in written if row["split"] == "train"] == [1, 2, 3, 4, 5, 6]  # in the job folder too
    db = ResultsDB(tmp_path / "results.sqlite")
    series = curve_series(summarize(db.results()), db.curves(), "sample_sentiment")
    assert series[("tiny", "loss")] == [(p.epoch, p.value) for p in loss]  # one seed: the stored values themselves
    assert [epoch for epoch, _ in series[("tiny", "dev")]] == [1.0, 2.0]


def test_curve_series_keeps_every_point_and_averages_seeds(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    for seed in (0, 1):
        curves = [CurvePoint("train", "loss", step, step / 10, 2.0 - step / 100 + seed) for step in range(1, 31)]
        curves.append(CurvePoint("dev", "accuracy", 30, 3.0, 70.0 + seed))
        db.store(JobRecord(JobKey("A", "h", "t", seed, {"lr": 1.0}), "fr", "accuracy",
                           {"dev": {"accuracy": 70.0 + seed}}, curves))
    series = curve_series(summarize(db.results()), db.curves(), "t")
    assert len(series[("A", "loss")]) == 30  # every logged step, not a two-point line
    assert series[("A", "loss")][0] == (0.1, pytest.approx(2.49))  # mean of the seeds' 1.99 and 2.99
    assert series[("A", "dev")] == [(3.0, 70.5)]


def _pretraining_run(folder, validation=True):
    logger = MetricsLogger(folder, tensorboard=False)
    for step in range(10, 110, 10):
        logger.log(step, "train", {"loss": 9.0 - step / 20, "mlm_accuracy": step / 1000, "lr": 1e-4 * step / 100,
                                   "grad_norm": 1.0})
        if validation and step % 50 == 0:
            logger.log(step, "valid", {"loss": 8.0 - step / 50, "perplexity": math.exp(8.0 - step / 50),
                                       "mlm_accuracy": step / 500})
    logger.close()
    return folder


def _db(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    db.store(JobRecord(JobKey("A", "h", "t", 0, {"lr": 1.0}), "fr", "accuracy", {"dev": {"accuracy": 70.0}}))
    return db


def test_pretraining_runs_get_their_curves_in_the_report(tmp_path):
    runs = [_pretraining_run(tmp_path / "runs" / "full"), _pretraining_run(tmp_path / "runs" / "no-valid", validation=False)]
    run = read_run(runs[0])
    assert [step for step, _ in run.series[("train", "loss")]] == list(range(10, 110, 10))  # every logged row
    assert run.series[("valid", "perplexity")] == [(50, math.exp(7.0)), (100, math.exp(6.0))]  # JSON round trip is exact
    files = build_report(ReportConfig(runs=[str(path) for path in runs]), _db(tmp_path).path, tmp_path / "report")
    md = files.markdown.read_text(encoding="utf-8")
    assert "## Pretraining runs" in md
    assert f"| full | 100 | 4.000 | 6.000 | {math.exp(6.0):.1f} (step 100) | 20.0% |" in md
    assert "| no-valid | 100 | 4.000 | — | — | — |" in md
    page = files.html.read_text(encoding="utf-8")
    assert len(re.findall(r'alt="pretraining curves of (full|no-valid)"', page)) == 2

    figure = run_figure(read_run(runs[1]))
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["no-valid: loss", "no-valid: validation perplexity", "no-valid: MLM accuracy", "no-valid: learning rate"]
    loss, perplexity, accuracy, lr = figure.axes
    assert [len(line.get_xdata()) for line in loss.lines] == [10] and len(lr.lines) == 1
    assert not perplexity.lines and "no validation rows" in perplexity.texts[0].get_text()  # says why it is empty


def test_a_run_without_metrics_is_one_clear_error(tmp_path):
    (tmp_path / "not-a-run").mkdir()
    with pytest.raises(ResultsError, match=r"report.runs: .*not-a-run has no metrics.jsonl; give pretraining run folders"):
        build_report(ReportConfig(runs=[str(tmp_path / "not-a-run")]), _db(tmp_path).path, tmp_path / "report")
    broken = _pretraining_run(tmp_path / "broken")
    with open(broken / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": 110, "spl\n')  # after 10 train and 2 valid rows
    with pytest.raises(ResultsError, match=r"broken/metrics.jsonl line 13: not a JSON row"):
        read_run(broken)
    assert not (tmp_path / "report").exists()  # nothing written before the error


def test_report_runs_names_resolve_under_paths_runs(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed
    from workbench.stages.report import run_folders

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_typed(compose(config_name="report", overrides=[
            f"paths.runs={tmp_path}", f"report.runs=[quickstart,{tmp_path}/other]", "report.format=latex"]))
    assert run_folders(cfg) == [str(tmp_path / "quickstart"), str(tmp_path / "other")]
    assert cfg.report.format == "latex"
