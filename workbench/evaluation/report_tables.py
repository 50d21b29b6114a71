"""Leaderboard tables: markdown (headline table + per-task details) and long-format CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import List, Optional

from workbench.evaluation.protocol import AVERAGES, Leaderboard, TaskSummary


def _md(text: str) -> str:
    """Markdown-safe cell text: pipes, backslashes and angle brackets cannot break the table or inject HTML."""
    return (
        str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\n", " ").replace("\r", " ")
    )


def headline_cell(summary: Optional[TaskSummary]) -> str:
    if summary is None:
        return "—"
    return summary.headline.format() + (" (dev)" if summary.headline_split == "dev" else "")


def average_names(board: Leaderboard) -> List[str]:
    return [name for language, name in AVERAGES.items() if board.tasks_of(language)]


def average_cell(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.1f}"


def hparams_text(summary: TaskSummary) -> str:
    keys = ("lr", "epochs", "batch_size", "warmup_ratio", "weight_decay", "schedule")
    shown = {key: summary.hparams[key] for key in keys if key in summary.hparams}
    return ", ".join(f"{key}={value}" for key, value in shown.items())


def markdown(board: Leaderboard, title: str) -> str:
    averages = average_names(board)
    lines = [f"# {_md(title)}", ""]
    lines.append(
        "Headline scores in %: mean ± std over seeds of the hyperparameter configuration with the best mean dev score,"
        " on the test split(s); (dev) marks a task without a labeled test split."
    )
    lines.append("")
    header = ["model", *board.tasks, *averages]
    lines.append("| " + " | ".join(_md(cell) for cell in header) + " |")
    lines.append("|" + "---|" * len(header))
    for label in board.labels:
        cells = [label, *(headline_cell(board.summaries.get((label, task))) for task in board.tasks)]
        cells += [average_cell(board.averages[label].get(name)) for name in averages]
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    lines += ["", "## Details", ""]
    header = ["task", "model", "checkpoint", "selected hyperparameters", "configs", "seeds", "dev", "test splits"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for task in board.tasks:
        for label in board.labels:
            summary = board.summaries.get((label, task))
            if summary is None:
                continue
            tests = "; ".join(f"{split}: {stat.format()}" for split, stat in summary.tests.items()) or "—"
            cells = [
                task, label, summary.checkpoint_hash[:12], hparams_text(summary), str(summary.configs_tried),
                ",".join(map(str, summary.seeds)), f"{summary.primary_metric} {summary.dev.format()}", tests,
            ]
            lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "model", "checkpoint_hash", "task", "language", "split", "metric", "mean", "std", "n_seeds", "seeds",
    "primary", "hparams_hash", "hparams",
]


def csv_text(board: Leaderboard) -> str:
    """Long format: one row per (model, task, split, metric) of the selected configuration, plus averages."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for label in board.labels:
        for task in board.tasks:
            summary = board.summaries.get((label, task))
            if summary is None:
                continue
            for split, metrics in summary.metrics.items():
                for metric, stat in metrics.items():
                    writer.writerow([
                        label, summary.checkpoint_hash, task, summary.language, split, metric,
                        f"{stat.mean:.4f}", f"{stat.std:.4f}", stat.n, " ".join(map(str, summary.seeds)),
                        int(metric == summary.primary_metric), summary.hparams_hash,
                        json.dumps(summary.hparams, sort_keys=True, ensure_ascii=False),
                    ])
        for name, value in board.averages[label].items():
            if value is not None:
                writer.writerow([label, "", name, "", "headline", "average", f"{value:.4f}", "", "", "", 1, "", ""])
    return buffer.getvalue()
