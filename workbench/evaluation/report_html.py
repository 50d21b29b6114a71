"""The self-contained HTML leaderboard: tables plus PNG plots embedded as base64 data URIs.

Every string that comes from a user (model names, task names, hyperparameters,
the title) goes through ``html.escape``; the page loads nothing from outside.
"""

from __future__ import annotations

import base64
import html
from typing import Dict, List, Optional, Sequence

from workbench.evaluation.comparisons import Comparisons
from workbench.evaluation.protocol import Leaderboard
from workbench.evaluation.report_tables import (
    FLAGS_NOTE, RUNS_NOTE, average_cell, average_names, comparison_sections, hparams_text, headline_cell, table_notes,
)
from workbench.evaluation.report_runs import RUN_HEADER, RunCurves, run_rows

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #eee}.note{color:#555;font-size:90%}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: List[str], rows: List[List[str]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def html_page(board: Leaderboard, title: str, bars: Optional[bytes], curves: Dict[str, bytes], footer: str = "",
              comparisons: Optional[Comparisons] = None, gain_curves: Optional[Dict[str, bytes]] = None,
              runs: Sequence[RunCurves] = (), run_pngs: Optional[Dict[str, bytes]] = None) -> str:
    averages = average_names(board)
    headline_rows = [
        [label, *(headline_cell(board.summaries.get((label, task))) for task in board.tasks),
         *(average_cell(board.averages[label].get(name)) for name in averages)]
        for label in board.labels
    ]
    detail_rows = []
    for task in board.tasks:
        for label in board.labels:
            summary = board.summaries.get((label, task))
            if summary is None:
                continue
            tests = "; ".join(f"{split}: {stat.format()}" for split, stat in summary.tests.items()) or "—"
            detail_rows.append([
                task, label, summary.checkpoint_hash[:12], hparams_text(summary), str(summary.configs_tried),
                ",".join(map(str, summary.seeds)), f"{summary.primary_metric} {summary.dev.format()}", tests,
            ])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<p class="note">Scores in %: mean ± std over seeds of the configuration with the best mean dev score,'
        " on the test split(s); (dev) marks a task without a labeled test split.</p>",
        _table(["model", *board.tasks, *averages], headline_rows),
        *(f'<p class="note">{_e(note)}</p>' for note in table_notes(board)),
        f'<p class="note">{_e(FLAGS_NOTE)}</p>',
    ]
    for section_title, note, header, rows in comparison_sections(comparisons or Comparisons()):
        parts += [f"<h2>{_e(section_title)}</h2>", f'<p class="note">{_e(note)}</p>', _table(header, rows)]
    for task, png in (gain_curves or {}).items():
        parts += [f"<h3>{_e(task)}: pretraining-gain curve</h3>", _image(png, f"pretraining-gain curve of {task}")]
    if bars is not None:
        parts += ["<h2>Per-task scores</h2>", _image(bars, "per-task scores with standard deviation over seeds")]
    parts += [
        "<h2>Details</h2>",
        _table(["task", "model", "checkpoint", "selected hyperparameters", "configs", "seeds", "dev", "test splits"], detail_rows),
    ]
    if curves:
        parts.append("<h2>Learning curves</h2>")
        for task, png in curves.items():
            parts += [f"<h3>{_e(task)}</h3>", _image(png, f"learning curves of {task}")]
    if runs:
        parts += ["<h2>Pretraining runs</h2>", f'<p class="note">{_e(RUNS_NOTE)}</p>', _table(RUN_HEADER, run_rows(runs))]
        for name, png in (run_pngs or {}).items():
            parts += [f"<h3>{_e(name)}</h3>", _image(png, f"pretraining curves of {name}")]
    if footer:
        parts.append(f'<p class="note">{_e(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
