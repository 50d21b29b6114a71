"""PNG plots for the report (matplotlib, Agg backend): per-task bars with error bars, learning curves, pretraining
runs' curves. A panel with nothing to draw says why in its middle."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from workbench.evaluation.comparisons import Curve  # noqa: E402
from workbench.evaluation.intervals import mean_interval  # noqa: E402
from workbench.evaluation.protocol import Leaderboard  # noqa: E402
from workbench.evaluation.report_runs import RUN_PANELS, RunCurves  # noqa: E402
from workbench.evaluation.results_db import CurveRow  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def task_bars(board: Leaderboard) -> bytes:
    """One group of bars per task (one bar per model): headline mean with ± std error bars."""
    tasks, labels = board.tasks, board.labels
    width = 0.8 / max(len(labels), 1)
    figure, axis = plt.subplots(figsize=(max(6.0, 1.2 * len(tasks) * max(1, len(labels)) ** 0.5), 4.0))
    for index, label in enumerate(labels):
        xs, means, stds = [], [], []
        for position, task in enumerate(tasks):
            summary = board.summaries.get((label, task))
            if summary is not None:
                xs.append(position - 0.4 + width * (index + 0.5))
                means.append(summary.headline.mean)
                stds.append(summary.headline.std)
        axis.bar(xs, means, width=width, yerr=stds, capsize=3, label=label)
    axis.set_xticks(range(len(tasks)))
    axis.set_xticklabels(tasks, rotation=30, ha="right")
    axis.set_ylabel("score (%), mean ± std over seeds")
    axis.legend(fontsize="small")
    axis.grid(axis="y", alpha=0.3)
    return _png(figure)


def _empty_panel(axis, why: str) -> None:
    """An empty panel says why it is empty instead of showing bare axes."""
    axis.text(0.5, 0.5, why, ha="center", va="center", wrap=True, fontsize="small", color="#555", transform=axis.transAxes)
    axis.set_xticks([])
    axis.set_yticks([])


def curve_series(board: Leaderboard, curves: Sequence[CurveRow], task: str) -> Dict[Tuple[str, str], List[Tuple[float, float]]]:
    """(model label, "dev" | "loss") -> [(epoch, mean over seeds)] of each model's selected configuration on ``task``:
    every logged point (train loss every ``finetune.log_every`` steps, dev every evaluation), in epoch order."""
    series: Dict[Tuple[str, str], Dict[float, List[float]]] = defaultdict(lambda: defaultdict(list))
    for label in board.labels:
        summary = board.summaries.get((label, task))
        if summary is None:
            continue
        members = set(summary.members) or {(summary.model, summary.checkpoint_hash)}  # the row's aliases too
        for point in curves:
            if (point.model, point.checkpoint_hash) not in members or (point.task, point.hparams_hash) != (
                task, summary.hparams_hash
            ):
                continue
            if point.split == "dev" and point.metric == summary.primary_metric:
                series[(label, "dev")][point.epoch].append(point.value)
            elif point.split == "train" and point.metric == "loss":
                series[(label, "loss")][point.epoch].append(point.value)
    return {key: [(epoch, sum(by_epoch[epoch]) / len(by_epoch[epoch])) for epoch in sorted(by_epoch)]
            for key, by_epoch in sorted(series.items())}


def learning_curves(board: Leaderboard, curves: Sequence[CurveRow], task: str) -> bytes | None:
    """Dev primary metric and training loss against epochs, mean over the seeds of each model's selected configuration."""
    series = curve_series(board, curves, task)
    if not series:
        return None
    figure, (dev_axis, loss_axis) = plt.subplots(1, 2, figsize=(10.0, 3.5))
    for (label, kind), points in series.items():
        axis = dev_axis if kind == "dev" else loss_axis
        axis.plot([e for e, _ in points], [v for _, v in points], marker="o" if kind == "dev" else None, label=label)
    dev_axis.set_title(f"{task}: dev score")
    dev_axis.set_xlabel("epoch")
    dev_axis.set_ylabel("%")
    loss_axis.set_title(f"{task}: training loss")
    loss_axis.set_xlabel("epoch")
    for axis, why in ((dev_axis, "no dev evaluation stored for these jobs"),
                      (loss_axis, "no training loss stored for these jobs (stored before workbench logged it)")):
        if axis.lines:
            axis.grid(alpha=0.3)
            axis.legend(fontsize="small")
        else:
            _empty_panel(axis, why)
    return _png(figure)


def run_curves(run: RunCurves) -> bytes:
    """A pretraining run's curves against steps: loss (train, validation), validation perplexity, MLM accuracy, lr."""
    return _png(run_figure(run))


def run_figure(run: RunCurves):
    figure, axes = plt.subplots(1, len(RUN_PANELS), figsize=(4.0 * len(RUN_PANELS), 3.3))
    for axis, (title, ylabel, keys, why) in zip(axes, RUN_PANELS):
        axis.set_title(f"{run.name}: {title}", fontsize="medium")
        for split, metric in keys:
            points = run.series.get((split, metric))
            if points:
                axis.plot([s for s, _ in points], [v for _, v in points], marker="o" if split == "valid" else None,
                          markersize=3, label=split)
        if axis.lines:
            axis.set_xlabel("step")
            axis.set_ylabel(ylabel)
            axis.grid(alpha=0.3)
            if title == "validation perplexity":
                axis.set_yscale("log")
            if len(axis.lines) > 1:
                axis.legend(fontsize="small")
        else:
            _empty_panel(axis, why)
    figure.tight_layout()
    return figure


def pretraining_gain_curve(curves: Sequence[Curve], task: str) -> bytes | None:
    """Dev score of each checkpoint (mean ± std over seeds) against pretraining tokens, one line per run, with the
    run's random-init dev score as a horizontal band (mean, 95% t interval; the mean alone with one seed)."""
    if not curves:
        return None
    figure, axis = plt.subplots(figsize=(7.0, 3.8))
    by_tokens = all(point.tokens is not None for curve in curves for point in curve.points)
    for curve in curves:
        xs = [point.tokens if by_tokens else point.step for point in curve.points]
        line = axis.errorbar(xs, [p.dev.mean for p in curve.points], yerr=[p.dev.std for p in curve.points],
                             marker="o", capsize=3, label=curve.run)
        if curve.random_dev is not None:
            color = line[0].get_color()
            axis.axhline(curve.random_dev.mean, color=color, linestyle="--", linewidth=1, label=f"{curve.run} (random init)")
            interval = mean_interval(curve.random_dev.mean, curve.random_dev.std, curve.random_dev.n)
            if interval is not None:
                axis.axhspan(interval[0], interval[1], color=color, alpha=0.15)
    axis.set_title(f"{task}: dev score against pretraining")
    axis.set_xlabel("pretraining tokens" if by_tokens else "pretraining step (tokens not recorded)")
    axis.set_ylabel("dev score (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small")
    return _png(figure)
