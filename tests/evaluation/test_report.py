"""The protocol (best dev configuration, mean ± std over its seeds, FLUE/GLUE averages) and the report files."""

from __future__ import annotations

import base64
import csv
import io
import math
import re
import statistics

import pytest

from workbench.evaluation.config import ReportConfig
from workbench.evaluation.errors import ResultsError
from workbench.evaluation.protocol import summarize
from workbench.evaluation.report import build_report
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB

EVIL = '<script>alert("x")</script>&co|pipe'


BENCHMARK = {"fr": "flue", "en": "glue"}  # the fixture's xnli_fr and mnli_en are FLUE and GLUE tasks


def _store(db, model, task, language, lr, seed, dev, test, extra_test=None, metric="accuracy", benchmark=None,
           squad_normalization=""):
    scores = {"dev": {metric: dev}, "test": {metric: test}}
    if extra_test is not None:
        scores["test_mismatched"] = {metric: extra_test}
    curves = [CurvePoint("dev", metric, s, s / 10, dev - 5 + s / 10) for s in (10, 20)]
    curves.append(CurvePoint("train", "loss", 10, 1.0, 0.5))
    db.store(JobRecord(JobKey(model, "c0ffee" * 3, task, seed, {"lr": lr, "epochs": 3.0}), language, metric,
                       scores, curves, "2024", "wb", "dir", benchmark or BENCHMARK[language], squad_normalization))


@pytest.fixture()
def db(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    # model A on xnli_fr: lr 2e-5 is best on dev (mean 81) although lr 5e-5 has a better test score
    for seed, (dev, test) in zip((1, 2, 3), ((80.0, 70.0), (81.0, 71.0), (82.0, 75.0))):
        _store(db, "A", "xnli_fr", "fr", 2e-5, seed, dev, test)
    for seed, (dev, test) in zip((1, 2, 3), ((79.0, 90.0), (80.0, 90.0), (81.0, 90.0))):
        _store(db, "A", "xnli_fr", "fr", 5e-5, seed, dev, test)
    for seed in (1, 2):
        _store(db, "A", "mnli_en", "en", 3e-5, seed, 84.0 + seed, 83.0 + seed, extra_test=82.0 + seed)
        _store(db, EVIL, "xnli_fr", "fr", 3e-5, seed, 60.0, 61.0 + seed)
    return db


def test_selection_on_dev_and_mean_std_over_seeds(db):
    board = summarize(db.results())
    a = board.summaries[("A", "xnli_fr")]
    assert a.hparams["lr"] == 2e-5 and a.configs_tried == 2 and a.seeds == [1, 2, 3]
    assert a.dev.mean == pytest.approx(81.0) and a.dev.std == pytest.approx(1.0)
    assert a.tests["test"].mean == pytest.approx(72.0)
    assert a.tests["test"].std == pytest.approx(statistics.stdev([70.0, 71.0, 75.0]))
    mnli = board.summaries[("A", "mnli_en")]
    # headline: mean over the matched and mismatched test sets, per seed, then over seeds
    assert mnli.headline.mean == pytest.approx(statistics.mean([(84 + 83) / 2, (85 + 84) / 2]))
    assert board.averages["A"] == {"FLUE avg": pytest.approx(72.0), "GLUE avg": pytest.approx(84.0)}
    assert board.averages[EVIL]["GLUE avg"] is None  # missing an English task: no comparable average
    assert board.labels[0] == "A" and board.tasks == ["xnli_fr", "mnli_en"]


def test_report_files(db, tmp_path):
    config = ReportConfig(title=f"Board {EVIL}", output_dir=str(tmp_path / "report"))
    files = build_report(config, db.path)
    md = files.markdown.read_text(encoding="utf-8")
    assert "| A | 72.0 ± 2.6 | 84.0 ± 0.7 | 72.0 | 84.0 |" in md
    assert "<script>" not in md and "\\|pipe" in md
    rows = list(csv.DictReader(io.StringIO(files.csv.read_text(encoding="utf-8"))))
    xnli_test = [r for r in rows if r["model"] == "A" and r["task"] == "xnli_fr" and r["split"] == "test"]
    assert len(xnli_test) == 1 and float(xnli_test[0]["mean"]) == pytest.approx(72.0) and xnli_test[0]["n_seeds"] == "3"
    assert any(r["model"] == EVIL for r in rows)  # csv keeps the raw name (quoted by the csv module)

    page = files.html.read_text(encoding="utf-8")
    assert "<script>" not in page and "alert(&quot;x&quot;)" in page and "&amp;co|pipe" in page
    assert re.search(r"<(script|link|iframe)", page) is None
    assert not re.search(r'src="(?!data:image/png;base64,)', page)  # nothing loaded from outside
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 1 + 2  # per-task bars + one learning-curve figure per task
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)


def test_report_filters_and_errors(db, tmp_path):
    files = build_report(ReportConfig(models=["A"], tasks=["xnli_fr"], plots=False), db.path, tmp_path / "r")
    assert files.leaderboard.labels == ["A"] and files.leaderboard.tasks == ["xnli_fr"]
    assert "data:image" not in files.html.read_text(encoding="utf-8")
    with pytest.raises(ResultsError, match="no results database"):
        build_report(ReportConfig(), tmp_path / "missing.sqlite", tmp_path / "r2")
    with pytest.raises(ResultsError, match="holds no results for models"):
        build_report(ReportConfig(models=["nobody"]), db.path, tmp_path / "r3")


def test_single_seed_has_zero_std_and_dev_fallback(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    db.store(JobRecord(JobKey("B", "h", "cls_books_fr", 0, {"lr": 1e-5}), "fr", "accuracy", {"dev": {"accuracy": 90.0}}))
    summary = summarize(db.results()).summaries[("B", "cls_books_fr")]
    assert (summary.headline.mean, summary.headline.std, summary.headline_split) == (90.0, 0.0, "dev")
    assert not math.isnan(summary.dev.std)


def test_flue_average_covers_only_flue_tasks_and_names_them(db, tmp_path):
    # a French task outside FLUE (sample_nli) gets the French (non-FLUE) average, not the FLUE one
    for seed, score in ((1, 50.0), (2, 60.0), (3, 70.0)):
        _store(db, "A", "sample_nli", "fr", 3e-5, seed, score, score, benchmark="none")
    _store(db, "A", "conll2003_en", "en", 3e-5, 1, 90.0, 91.0, benchmark="none")
    board = summarize(db.results())
    assert board.averages["A"] == {
        "FLUE avg": pytest.approx(72.0),  # xnli_fr alone: sample_nli (mean 60) is not averaged into it
        "French (non-FLUE) avg": pytest.approx(60.0),
        "GLUE avg": pytest.approx(84.0),
        "English (non-GLUE) avg": pytest.approx(91.0),
    }
    assert board.tasks == ["xnli_fr", "sample_nli", "mnli_en", "conll2003_en"]
    md = build_report(ReportConfig(plots=False), db.path, tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "FLUE avg: mean of xnli_fr." in md and "French (non-FLUE) avg: mean of sample_nli." in md
    assert "English (non-GLUE) avg: mean of conll2003_en." in md


def test_one_seed_shows_no_zero_std_and_seeds_column_lists_the_seeds(db, tmp_path):
    _store(db, "A", "cls_books_fr", "fr", 3e-5, 7, 88.0, 86.0)
    files = build_report(ReportConfig(plots=False), db.path, tmp_path / "r")
    md, page = files.markdown.read_text(encoding="utf-8"), files.html.read_text(encoding="utf-8")
    books = [line for line in md.splitlines() if "cls_books_fr | A |" in line]
    assert "86.0 (1 seed)" in md and len(books) == 1 and "±" not in books[0]  # two equal seeds still show ± 0.0
    assert "86.0 (1 seed)" in page and "86.0 ± 0.0" not in page
    details = {tuple(cell.strip() for cell in line.split("|")[1:3]): line.split("|")[6].strip()
               for line in md.splitlines() if line.startswith("| ") and line.count("|") == 9}
    assert details[("cls_books_fr", "A")] == "7" and details[("xnli_fr", "A")] == "1,2,3"


def test_french_squad_normalisation_is_marked(tmp_path):
    db = ResultsDB(tmp_path / "r.sqlite")
    for seed in (0, 1):
        _store(db, "A", "fquad_fr", "fr", 3e-5, seed, 70.0 + seed, 72.0 + seed, metric="f1", benchmark="none",
               squad_normalization="french")
        _store(db, "A", "squad_v1.1_en", "en", 3e-5, seed, 80.0, 81.0, metric="f1", benchmark="none",
               squad_normalization="official")
    files = build_report(ReportConfig(plots=False), db.path, tmp_path / "r")
    md = files.markdown.read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| A |"))
    assert "| 72.5 ± 0.7 † |" in row and "| 81.0 ± 0.0 |" in row  # only the French-normalised score is marked
    assert "† EM/F1 with the French SQuAD normalisation" in md
    assert "French SQuAD normalisation" in files.html.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(files.csv.read_text(encoding="utf-8"))))
    assert {r["squad_normalization"] for r in rows if r["task"] == "fquad_fr"} == {"french"}


def test_version_1_database_is_migrated_and_flags_unrecorded_benchmarks(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    _store(ResultsDB(path), "A", "xnli_fr", "fr", 3e-5, 0, 80.0, 81.0)
    connection = sqlite3.connect(path)  # rebuild the version-1 layout: no benchmark / squad_normalization columns
    connection.executescript(
        "ALTER TABLE results DROP COLUMN benchmark; ALTER TABLE results DROP COLUMN squad_normalization;"
        " UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    connection.close()
    db = ResultsDB(path)
    board = summarize(db.results())
    assert board.unrecorded == ["xnli_fr"] and board.averages["A"] == {"French (non-FLUE) avg": pytest.approx(81.0)}
    _store(db, "A", "xnli_fr", "fr", 3e-5, 0, 80.0, 81.0)  # the same eval again records it
    assert summarize(db.results()).averages["A"] == {"FLUE avg": pytest.approx(81.0)}
