"""Metrics to JSONL and TensorBoard (rank 0 only), and to any extra sink (an MLflow run: workbench/tracking).

``TensorBoardLog`` is the one TensorBoard writer: pretraining's ``runs/<run>/tensorboard`` and each fine-tuning
job's ``<job>/tensorboard`` (scalars ``<split>/<metric>`` against the step, and the job's hyperparameters for
TensorBoard's HParams view).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Protocol, Sequence

from workbench.artifacts.atomic import write_text


def _complete_row_before(line: str, step: int) -> bool:
    try:
        return int(json.loads(line)["step"]) <= step
    except (ValueError, KeyError, TypeError):  # a line cut by a kill
        return False


def _finite_numbers(metrics: Mapping[str, Any]) -> Dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class MetricSink(Protocol):
    """Where a row of metrics goes besides metrics.jsonl (``workbench.tracking.mlflow_run.MlflowRun``)."""

    def log(self, step: int, split: str, metrics: Mapping[str, float]) -> None: ...


class TensorBoardLog:
    """Scalars ``<split>/<key>`` against the step in ``log_dir`` (finite numbers only), and hyperparameters."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def log(self, step: int, split: str, metrics: Mapping[str, Any]) -> None:
        for key, value in _finite_numbers(metrics).items():
            self._writer.add_scalar(f"{split}/{key}", value, step)

    def hparams(self, hparams: Mapping[str, Any], metrics: Mapping[str, float], step: int) -> None:
        """The HParams view's session of this folder: ``hparams`` (numbers, strings and booleans; anything else as
        its text) and ``metrics`` (tag -> value, also written as scalars at ``step``). Unlike
        ``SummaryWriter.add_hparams``, which writes a sub-folder of its own, the hyperparameters go to this folder,
        so they sit beside the curves of the same run."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        values = {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v) for k, v in hparams.items()}
        finite = _finite_numbers(metrics)
        for summary in hparams_summaries(values, finite):
            self._writer.file_writer.add_summary(summary)
        for tag, value in finite.items():
            self._writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self._writer.close()


class MetricsLogger:
    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True, resume_step: int = 0,
                 sinks: Sequence[MetricSink] = ()) -> None:
        """``resume_step``: the step training goes on from; rows logged after it by an interrupted run
        (the steps that are trained again) are dropped, so each step appears once. ``sinks`` get every row too."""
        self.enabled = enabled
        self._jsonl = None
        self._tb: Optional[TensorBoardLog] = None
        self._sinks = list(sinks)
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "metrics.jsonl"
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            kept = [line for line in lines if line.strip() and _complete_row_before(line, resume_step)]
            if len(kept) != len(lines):
                write_text(path, "".join(line + "\n" for line in kept))
        self._jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8")
        if tensorboard:
            self._tb = TensorBoardLog(run_dir / "tensorboard")

    def log(self, step: int, split: str, metrics: Dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, "time": round(time.time(), 3)}
        record.update({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()})
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            self._tb.log(step, split, metrics)
        for sink in self._sinks:
            sink.log(step, split, metrics)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: Path, split: Optional[str] = None) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]
