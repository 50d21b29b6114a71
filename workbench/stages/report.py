"""Stage ``report``: the leaderboard (markdown, CSV, self-contained HTML, LaTeX) from the results database."""

from __future__ import annotations

import logging
from pathlib import Path

from workbench.artifacts.layout import results_db
from workbench.config.root import WorkbenchConfig
from workbench.evaluation.report import build_report

log = logging.getLogger(__name__)


def report(cfg: WorkbenchConfig) -> Path:
    files = build_report(cfg.report, cfg.report.database or results_db(cfg))
    written = files.written()
    log.info("report: %s", ", ".join(map(str, written)))
    return files.html or written[0]


run = report
