"""Pretraining runs in the report (``report.runs``): the curves of each run's ``metrics.jsonl``.

Every logged row is kept: train loss, MLM accuracy and learning rate every ``trainer.log_every`` steps,
validation loss, perplexity and MLM accuracy every ``trainer.eval_every`` steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from workbench.evaluation.errors import ResultsError
from workbench.training.metrics_log import read_metrics

Series = List[Tuple[int, float]]  # (step, value), in step order

# (panel title, y label, [(split, metric), ...], why the panel can be empty)
RUN_PANELS = (
    ("loss", "MLM loss", (("train", "loss"), ("valid", "loss")), "no loss logged"),
    ("validation perplexity", "perplexity", (("valid", "perplexity"),),
     "no validation rows: trainer.eval_every=0, no valid shards, or the run stopped before its first validation"),
    ("MLM accuracy", "accuracy", (("train", "mlm_accuracy"), ("valid", "mlm_accuracy")), "no MLM accuracy logged"),
    ("learning rate", "lr", (("train", "lr"),), "no learning rate logged"),
)


@dataclass(frozen=True)
class RunCurves:
    name: str  # the run folder's name
    path: Path
    series: Dict[Tuple[str, str], Series]  # (split, metric) -> points

    def last(self, split: str, metric: str):
        points = self.series.get((split, metric))
        return points[-1] if points else None

    def best(self, split: str, metric: str, lowest: bool = True):
        points = self.series.get((split, metric))
        if not points:
            return None
        return min(points, key=lambda p: p[1]) if lowest else max(points, key=lambda p: p[1])


def read_run(path: str | Path) -> RunCurves:
    """The curves of pretraining run folder ``path`` (``runs/<run>``); one clear error when it has no metrics."""
    path = Path(path)
    metrics = path / "metrics.jsonl"
    if not metrics.is_file():
        raise ResultsError(
            f"report.runs: {path} has no metrics.jsonl; give pretraining run folders (runs/<run>, written by"
            " `python -m workbench train`)"
        )
    try:
        rows = read_metrics(path)
    except json.JSONDecodeError as error:  # read_metrics parses line by line: find which one
        lines = metrics.read_text(encoding="utf-8").splitlines()
        number = next(n for n, line in enumerate(lines, 1) if line.strip() and not _is_json(line))
        raise ResultsError(f"{metrics} line {number}: not a JSON row ({error.msg}); remove or repair that line") from None
    series: Dict[Tuple[str, str], Series] = {}
    for row in sorted(rows, key=lambda r: int(r["step"])):
        for metric, value in row.items():
            if metric in ("step", "split", "time") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            series.setdefault((row["split"], metric), []).append((int(row["step"]), float(value)))
    return RunCurves(path.name, path, series)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def read_runs(paths: Sequence[str | Path]) -> List[RunCurves]:
    return [read_run(path) for path in paths]


RUN_HEADER = ["run", "last step", "train loss (last)", "valid loss (last)", "valid perplexity (best, step)",
              "valid MLM accuracy (last)", "folder"]


def run_rows(runs: Sequence[RunCurves]) -> List[List[str]]:
    """One summary row per run (— where the run logged no such value)."""
    rows = []
    for run in runs:
        steps = [step for points in run.series.values() for step, _ in points]
        train_loss, valid_loss = run.last("train", "loss"), run.last("valid", "loss")
        best_ppl, valid_acc = run.best("valid", "perplexity"), run.last("valid", "mlm_accuracy")
        rows.append([
            run.name, str(max(steps)) if steps else "—",
            f"{train_loss[1]:.3f}" if train_loss else "—", f"{valid_loss[1]:.3f}" if valid_loss else "—",
            f"{best_ppl[1]:.1f} (step {best_ppl[0]})" if best_ppl else "—",
            f"{100 * valid_acc[1]:.1f}%" if valid_acc else "—", str(run.path),
        ])
    return rows
