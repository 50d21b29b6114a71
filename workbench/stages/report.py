"""Stage ``report``: the leaderboard (markdown, CSV, self-contained HTML, LaTeX) from the results database."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from workbench.artifacts.layout import results_db
from workbench.config.root import WorkbenchConfig
from workbench.evaluation.report import build_report

log = logging.getLogger(__name__)


def run_folders(cfg: WorkbenchConfig) -> list[str]:
    """``report.runs`` as folders: an existing path as given, a bare name under ``paths.runs``."""
    return [entry if Path(entry).exists() or "/" in entry else str(Path(cfg.paths.runs) / entry) for entry in cfg.report.runs]


def report(cfg: WorkbenchConfig) -> Path:
    settings = dataclasses.replace(cfg.report, runs=run_folders(cfg))
    files = build_report(settings, settings.database or results_db(cfg))
    written = files.written()
    log.info("report: %s", ", ".join(map(str, written)))
    return files.html or written[0]


run = report
