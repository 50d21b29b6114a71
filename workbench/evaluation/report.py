"""``python -m workbench report``: the results database into leaderboard.{md,csv,html,tex} (``report.format``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from workbench.artifacts.atomic import write_text
from workbench.artifacts.provenance import code_version
from workbench.evaluation.comparisons import Comparisons, compare
from workbench.evaluation.config import ReportConfig
from workbench.evaluation.errors import ResultsError
from workbench.evaluation.protocol import Leaderboard, summarize
from workbench.evaluation.report_html import html_page
from workbench.evaluation.report_latex import latex_table
from workbench.evaluation.report_runs import read_runs
from workbench.evaluation.report_tables import csv_text, markdown
from workbench.evaluation.results_db import ResultsDB


@dataclass(frozen=True)
class ReportFiles:
    """The files written (None: not selected by ``report.format``)."""

    markdown: Optional[Path]
    csv: Optional[Path]
    html: Optional[Path]
    latex: Optional[Path]
    leaderboard: Leaderboard
    comparisons: Comparisons

    def written(self) -> list[Path]:
        return [path for path in (self.markdown, self.csv, self.html, self.latex) if path is not None]


def build_report(config: ReportConfig, database: str | Path, output_dir: Optional[str | Path] = None) -> ReportFiles:
    """Read ``database``, apply the protocol (``workbench.evaluation.protocol``) and write the three report files."""
    database = Path(database)
    if not database.exists():
        raise ResultsError(f"no results database at {database}; run `python -m workbench eval ...` first")
    db = ResultsDB(database)
    rows = db.results(config.models or None, config.tasks or None)
    if not rows:
        selection = f" for models {config.models}" if config.models else ""
        selection += f" and tasks {config.tasks}" if config.tasks else ""
        raise ResultsError(f"{database} holds no results{selection}; run `python -m workbench eval ...` first")
    runs = read_runs(config.runs)  # pretraining runs' metrics.jsonl (report.runs)
    board = summarize(rows)
    comparisons = compare(board)  # gains over random init, baselines, flags, pretraining-gain curves
    out = Path(output_dir if output_dir is not None else config.output_dir)
    wanted = {config.format} if config.format != "all" else {"markdown", "csv", "html", "latex"}
    bars, curves, gain_curves, run_pngs = None, {}, {}, {}
    if config.plots and "html" in wanted:
        from workbench.evaluation.report_plots import (  # matplotlib only when plotting
            learning_curves, pretraining_gain_curve, run_curves, task_bars,
        )

        bars = task_bars(board)
        for task in board.tasks:
            png = pretraining_gain_curve([c for c in comparisons.curves if c.task == task], task)
            if png is not None:
                gain_curves[task] = png
        curve_rows = db.curves(config.models or None, config.tasks or None)
        for task in board.tasks:
            png = learning_curves(board, curve_rows, task)
            if png is not None:
                curves[task] = png
        run_pngs = {run.name: run_curves(run) for run in runs}
    version = code_version()
    footer = f"{len(rows)} result rows from {database.name}; workbench {version.get('workbench')} {version.get('git_commit', '')}"
    paths = {name: out / f"leaderboard.{suffix}" if name in wanted else None
             for name, suffix in (("markdown", "md"), ("csv", "csv"), ("html", "html"), ("latex", "tex"))}
    files = ReportFiles(**paths, leaderboard=board, comparisons=comparisons)
    if files.markdown:
        write_text(files.markdown, markdown(board, config.title, comparisons, runs))
    if files.csv:
        write_text(files.csv, csv_text(board, comparisons))
    if files.html:
        write_text(files.html, html_page(board, config.title, bars, curves, footer, comparisons, gain_curves, runs, run_pngs))
    if files.latex:
        write_text(files.latex, latex_table(board, config.title))
    return files
