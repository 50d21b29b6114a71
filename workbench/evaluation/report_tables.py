"""Leaderboard tables: markdown (headline table + per-task details) and long-format CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import List, Optional, Sequence

from workbench.evaluation.comparisons import CURVE_HEADER, GAIN_HEADER, Comparisons, curve_rows, gain_cells
from workbench.evaluation.protocol import Leaderboard, TaskSummary
from workbench.evaluation.report_runs import RUN_HEADER, RunCurves, run_rows


def _md(text: str) -> str:
    """Markdown-safe cell text: pipes, backslashes and angle brackets cannot break the table or inject HTML."""
    return (
        str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\n", " ").replace("\r", " ")
    )


FRENCH_QA_MARK = "†"
FRENCH_QA_NOTE = (
    f"{FRENCH_QA_MARK} EM/F1 with the French SQuAD normalisation (task.squad_normalization=french: French articles"
    " and Unicode punctuation are also stripped before matching): higher than, and not comparable with, scores of the"
    " official SQuAD v1.1 script."
)


def headline_cell(summary: Optional[TaskSummary]) -> str:
    if summary is None:
        return "—"
    text = summary.headline.format() + (" (dev)" if summary.headline_split == "dev" else "")
    if summary.squad_normalization == "french":
        text += f" {FRENCH_QA_MARK}"
    return text + (f" [{', '.join(summary.flags)}]" if summary.flags else "")


def table_notes(board: Leaderboard) -> List[str]:
    """The notes under the headline table: what each average averages, the French QA mark, unrecorded benchmarks."""
    notes = [f"{name}: mean of {', '.join(tasks)}." for name, tasks in board.average_tasks().items()]
    if any(summary.squad_normalization == "french" for summary in board.summaries.values()):
        notes.append(FRENCH_QA_NOTE)
    aliases = board.aliases()
    if aliases:
        notes.append("Same encoder weights under other names (one row each): " + "; ".join(
            f"{label} = {', '.join(names)}" for label, names in aliases.items()) + ".")
    if board.unrecorded:
        notes.append(
            f"Benchmark not recorded for {', '.join(board.unrecorded)} (stored by an older workbench): counted outside"
            " FLUE/GLUE; run the same `eval` again to record it (finished runs are reused, nothing is retrained)."
        )
    return notes


FLAGS_NOTE = (
    "[degenerate k/n seeds]: one class got more than 95% of a test split's predictions for k of the n seeds;"
    " [chance]: the mean is at most the task's majority-class baseline, or its 95% interval over seeds reaches it;"
    " [not comparable]: the test split is not the published one (see the task notes)."
)
GAIN_NOTE = (
    "Gain over random init: difference of the headline means over seeds (pretrained minus the same architecture"
    " and tokenizer fine-tuned from the family's initialisation, same recipe and seeds), with Welch's 95% interval;"
    " n/a when a side has a single seed."
)


def comparison_sections(comparisons: Comparisons) -> List[tuple]:
    """(title, note, header, rows) of the comparison tables that have rows."""
    sections = []
    if comparisons.gains:
        sections.append(("Gain over random init", GAIN_NOTE, GAIN_HEADER, [gain_cells(g) for g in comparisons.gains]))
    if comparisons.baselines or comparisons.not_comparable:
        tasks = sorted(set(comparisons.baselines) | set(comparisons.not_comparable))
        rows = [[task, f"{comparisons.baselines[task]:.1f}" if task in comparisons.baselines else "—",
                 comparisons.not_comparable.get(task, "")] for task in tasks]
        sections.append(("Task notes", "Majority-class baseline: the score of always predicting the training split's"
                         " most frequent class (NER: no entity) on the headline split(s).",
                         ["task", "majority-class baseline", "not comparable with published test scores"], rows))
    if comparisons.curves:
        sections.append(("Pretraining-gain curve", "Dev score of each evaluated checkpoint (mean ± std over seeds)"
                         " against the pretraining tokens it had seen; the run's random-init row is the horizontal band"
                         " (mean, 95% interval).", CURVE_HEADER, curve_rows(comparisons.curves)))
    return sections


def average_names(board: Leaderboard) -> List[str]:
    return list(board.average_tasks())


def average_cell(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.1f}"


def hparams_text(summary: TaskSummary) -> str:
    keys = ("lr", "epochs", "batch_size", "warmup_ratio", "weight_decay", "schedule")
    shown = {key: summary.hparams[key] for key in keys if key in summary.hparams}
    return ", ".join(f"{key}={value}" for key, value in shown.items())


RUNS_NOTE = (
    "The pretraining runs of report.runs, from their metrics.jsonl (every logged step); the HTML report draws their"
    " loss, validation perplexity, MLM accuracy and learning rate."
)


def markdown(board: Leaderboard, title: str, comparisons: Optional[Comparisons] = None,
             runs: Sequence[RunCurves] = ()) -> str:
    averages = average_names(board)
    lines = [f"# {_md(title)}", ""]
    lines.append(
        "Headline scores in %: mean ± std over seeds of the hyperparameter configuration with the best mean dev score,"
        " on the test split(s); (dev) marks a task without a labeled test split."
    )
    lines += ["", FLAGS_NOTE, ""]
    header = ["model", *board.tasks, *averages]
    lines.append("| " + " | ".join(_md(cell) for cell in header) + " |")
    lines.append("|" + "---|" * len(header))
    for label in board.labels:
        cells = [label, *(headline_cell(board.summaries.get((label, task))) for task in board.tasks)]
        cells += [average_cell(board.averages[label].get(name)) for name in averages]
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    notes = table_notes(board)
    if notes:
        lines += [""] + [_md(note) + "  " for note in notes]
    for section_title, note, section_header, rows in comparison_sections(comparisons or Comparisons()):
        lines += ["", f"## {section_title}", "", note, ""]
        lines.append("| " + " | ".join(_md(cell) for cell in section_header) + " |")
        lines.append("|" + "---|" * len(section_header))
        lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
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
    if runs:
        lines += ["", "## Pretraining runs", "", RUNS_NOTE, ""]
        lines.append("| " + " | ".join(RUN_HEADER) + " |")
        lines.append("|" + "---|" * len(RUN_HEADER))
        lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in run_rows(runs)]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = [
    "model", "checkpoint_hash", "task", "language", "split", "metric", "mean", "std", "n_seeds", "seeds",
    "primary", "hparams_hash", "hparams", "benchmark", "squad_normalization", "aliases",
]


def csv_text(board: Leaderboard, comparisons: Optional[Comparisons] = None) -> str:
    """Long format: one row per (model, task, split, metric) of the selected configuration, plus averages and
    gains over random init (split ``gain_over_random_init``: metric ``gain``, ``gain_low``, ``gain_high``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    aliases = board.aliases()
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
                        summary.benchmark, summary.squad_normalization, " ".join(aliases.get(label, [])),
                    ])
        groups = board.average_tasks()
        for name, value in board.averages[label].items():
            if value is not None:  # the hparams column names the averaged tasks
                writer.writerow([label, "", name, "", "headline", "average", f"{value:.4f}", "", "", "", 1, "",
                                 json.dumps({"tasks": groups[name]}), "", "", ""])
    for gain in (comparisons or Comparisons()).gains:
        summary = board.summaries[(gain.label, gain.task)]
        values = {"gain": gain.difference.value}
        if gain.difference.interval is not None:
            values.update(gain_low=gain.difference.interval[0], gain_high=gain.difference.interval[1])
        for metric, value in values.items():
            writer.writerow([gain.label, summary.checkpoint_hash, gain.task, summary.language, "gain_over_random_init", metric,
                             f"{value:.4f}", "", gain.pretrained.n, "", 0, summary.hparams_hash, json.dumps({"random_init": gain.random_label}),
                             summary.benchmark, summary.squad_normalization, ""])
    return buffer.getvalue()
