"""report.format: the booktabs LaTeX table (escaping, selection of files, --format=latex) and the offline HTML page."""

from __future__ import annotations

import html.parser
import re

import pytest

from workbench.config.choices import ConfigError
from workbench.evaluation.config import ReportConfig
from workbench.evaluation.report import build_report
from workbench.evaluation.report_latex import latex_escape
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB

NAME = "R&D_50%#1 {x}~^$\\"


def _db(tmp_path):
    db = ResultsDB(tmp_path / "results.sqlite")
    for model in ("A", NAME):
        for seed, score in ((0, 80.0), (1, 82.0)):
            curves = [CurvePoint("dev", "accuracy", s, s / 2, score - 2 + s) for s in (1, 2)]
            curves += [CurvePoint("train", "loss", s, s / 2, 1.0 / s) for s in (1, 2)]
            db.store(JobRecord(JobKey(model, "ab" * 8, "xnli_fr", seed, {"lr": 3e-5}), "fr", "accuracy",
                               {"dev": {"accuracy": score}, "test": {"accuracy": score - 1}}, curves, benchmark="flue"))
        db.store(JobRecord(JobKey(model, "ab" * 8, "fquad_fr", 0, {"lr": 3e-5}), "fr", "f1",
                           {"dev": {"f1": 70.0}, "test": {"f1": 71.0}}, squad_normalization="french"))
    return db


def test_latex_escape_covers_latex_specials():
    assert latex_escape(NAME) == r"R\&D\_50\%\#1 \{x\}\textasciitilde{}\textasciicircum{}\$\textbackslash{}"
    assert latex_escape("80.0 ± 1.4 †") == r"80.0 $\pm$ 1.4 \dag{}"


def test_format_latex_writes_only_a_booktabs_table(tmp_path):
    db = _db(tmp_path)
    files = build_report(ReportConfig(format="latex"), db.path, tmp_path / "r")
    assert files.markdown is None and files.csv is None and files.html is None
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["leaderboard.tex"]
    tex = files.latex.read_text(encoding="utf-8")
    assert tex.count(r"\toprule") == tex.count(r"\midrule") == tex.count(r"\bottomrule") == 1
    assert r"\begin{tabular}{lrrrr}" in tex  # model, xnli_fr, fquad_fr, FLUE avg, French (non-FLUE) avg
    header = tex.split(r"\toprule")[1].split(r"\midrule")[0].strip()
    assert header == r"Model & xnli\_fr & fquad\_fr & FLUE avg & French (non-FLUE) avg \\"
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    assert body[0] == r"A & 80.0 $\pm$ 1.4 & 71.0 (1 seed) \dag{} & 80.0 & 71.0 \\"
    assert body[1].startswith(latex_escape(NAME) + " & ")
    assert all(len(re.findall(r"(?<!\\)&", line)) == 4 for line in body)  # 5 cells: the name's & is escaped
    assert r"FLUE avg: mean of xnli\_fr." in tex and "French SQuAD normalisation" in tex


def test_format_all_writes_the_four_files_and_bad_format_is_refused(tmp_path):
    files = build_report(ReportConfig(plots=False), _db(tmp_path).path, tmp_path / "r")
    assert [p.name for p in files.written()] == ["leaderboard.md", "leaderboard.csv", "leaderboard.html", "leaderboard.tex"]
    with pytest.raises(ConfigError, match="report.format='pdf' is not valid; choose one of: all, markdown"):
        ReportConfig(format="pdf")


class _Assets(html.parser.HTMLParser):
    """Every URL-valued attribute of the page (src, href, srcset, poster, data, action) and every <script>/<link>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "poster", "data", "action")]


def test_html_report_opens_offline(tmp_path):
    files = build_report(ReportConfig(), _db(tmp_path).path, tmp_path / "r")
    page = files.html.read_text(encoding="utf-8")
    parser = _Assets()
    parser.feed(page)
    assert parser.urls and all(url.startswith("data:image/png;base64,") for url in parser.urls)  # images inlined
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    assert not re.search(r"url\(|@import|https?://", page.split("<body>")[0])  # the inline style loads nothing
