"""Gain over random init (Welch interval), majority-class baseline, degenerate/chance flags and the
pretraining-gain curve, from results stored in a real results database."""

from __future__ import annotations

import math
import statistics

import pytest

from workbench.evaluation.config import ReportConfig
from workbench.evaluation.intervals import mean_interval, t_quantile, welch_df, welch_difference
from workbench.evaluation.report import build_report
from workbench.evaluation.results_db import JobKey, JobRecord, ResultsDB


def test_t_quantiles_match_the_table():
    # Student-t table, two-sided 95%: t_{0.975, df}
    for df, value in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=5e-4)  # tables give 3 decimals
    assert t_quantile(0.975, 1e6) == pytest.approx(1.960, abs=5e-4)


def test_welch_interval_by_hand():
    a, b = [80.0, 82.0, 84.0], [70.0, 71.0, 75.0, 76.0]
    sa, sb = statistics.stdev(a), statistics.stdev(b)
    diff = welch_difference(statistics.mean(a), sa, 3, statistics.mean(b), sb, 4)
    va, vb = sa ** 2 / 3, sb ** 2 / 4
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3)
    assert diff.df == pytest.approx(df, rel=1e-12) == welch_df(sa, 3, sb, 4)
    half = t_quantile(0.975, df) * math.sqrt(va + vb)
    assert diff.value == pytest.approx(82.0 - 73.0)
    assert diff.interval == pytest.approx((9.0 - half, 9.0 + half), rel=1e-12)
    assert diff.contains_zero is False
    one = welch_difference(82.0, 0.0, 1, 73.0, sb, 4)
    assert one.value == pytest.approx(9.0) and one.interval is None and one.contains_zero is None
    assert mean_interval(5.0, 1.0, 1) is None


def _store(db, model, ckpt, task, seed, dev, test, extra=None, baseline=50.0, share=60.0, hparams=None):
    identity = {"lr": 1e-3, **(hparams or {})}
    scores = {"dev": {"accuracy": dev, "majority_baseline": baseline, "top_prediction_share": share},
              "test": {"accuracy": test, "majority_baseline": baseline, "top_prediction_share": share}}
    db.store(JobRecord(JobKey(model, ckpt, task, seed, identity), "fr", "accuracy", scores))


def _report(tmp_path, db):
    files = build_report(ReportConfig(plots=True), db.path, tmp_path / "report")
    return files, files.markdown.read_text(encoding="utf-8"), files.csv.read_text(encoding="utf-8")


def test_gain_column_flags_and_curve(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    pretrained, random = [81.0, 83.0, 85.0], [60.0, 63.0, 61.0]
    for seed, (p, r) in enumerate(zip(pretrained, random)):
        _store(db, "run", "aaaa", "senti", seed, p, p)
        _store(db, "run (random init)", "init-1", "senti", seed, r, r, share=99.0 if seed == 0 else 70.0, hparams={"init": "random"})
        # checkpoints of the run: the dev score rises with the tokens seen
        for step, tokens, bonus in ((100, 51_200, 0.0), (200, 102_400, 10.0)):
            _store(db, f"run@{step}", f"ck{step}", "senti", seed, r + bonus, r + bonus,
                   hparams={"pretraining": {"step": step, "tokens": tokens}, "run": "run"})
    files, md, csv = _report(tmp_path, db)
    gains = {g.label: g for g in files.comparisons.gains}
    gain = gains["run"]
    assert gain.random_label == "run (random init)"
    assert gain.difference.value == pytest.approx(statistics.mean(pretrained) - statistics.mean(random))
    low, high = gain.difference.interval
    assert low > 0 and "| senti | run | 83.0 ± 2.0 (n=3) | 61.3 ± 1.5 (n=3) | +21.7 |" in md
    # the checkpoint at step 100 scores like random init: its interval contains 0 and is marked
    assert gains["run@100"].difference.contains_zero and "contains 0" in md
    assert "gain_over_random_init,gain," in csv
    # degenerate: seed 0 of the random-init row predicted one class for 99% of the test split
    assert "[degenerate 1/3 seeds]" in md
    board = files.leaderboard
    assert "degenerate 1/3 seeds" in board.summaries[("run (random init)", "senti")].flags
    assert "chance" not in board.summaries[("run", "senti")].flags
    assert files.comparisons.baselines == {"senti": 50.0} and "| senti | 50.0 |" in md
    (curve,) = files.comparisons.curves
    assert [(p.step, p.tokens) for p in curve.points] == [(100, 51_200), (200, 102_400)]
    assert curve.random_label == "run (random init)" and curve.random_dev.mean == pytest.approx(statistics.mean(random))
    assert "| senti | run | run@200 | 200 | 102,400 |" in md and "pretraining-gain curve" in files.html.read_text(encoding="utf-8")


def test_interval_widens_with_fewer_seeds_and_is_na_with_one(tmp_path):
    widths = {}
    for seeds in (5, 3, 2, 1):
        db = ResultsDB(tmp_path / f"r{seeds}.sqlite")
        for seed in range(seeds):
            _store(db, "m", "a", "t", seed, 80.0 + seed % 2 * 2, 80.0 + (seed % 2) * 2)
            _store(db, "m (random init)", "i", "t", seed, 70.0 + ((seed + 1) % 2) * 2, 70.0 + ((seed + 1) % 2) * 2, hparams={"init": "random"})
        files, md, _ = _report(tmp_path / f"out{seeds}", db)
        (gain,) = files.comparisons.gains
        interval = gain.difference.interval
        widths[seeds] = None if interval is None else interval[1] - interval[0]
    assert widths[5] < widths[3] < widths[2] and widths[1] is None
    assert "n/a (1 seed)" in md


def test_chance_flag_against_the_majority_baseline(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    for seed, value in enumerate([50.0, 52.0, 54.0]):  # interval around 52 reaches the 51.0 baseline
        _store(db, "weak", "a", "t", seed, value, value, baseline=51.0)
    for seed, value in enumerate([70.0, 71.0, 72.0]):
        _store(db, "good", "b", "t", seed, value, value, baseline=51.0)
    files, md, _ = _report(tmp_path, db)
    flags = {label: s.flags for (label, _), s in files.leaderboard.summaries.items()}
    assert flags == {"weak": ["chance"], "good": []}
    assert "52.0 ± 2.0 [chance]" in md
