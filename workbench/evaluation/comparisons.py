"""What the leaderboard compares beyond raw scores: gain over random init, honest flags, the pretraining-gain curve.

- **Gain over random init**: for every pretrained row that has a random-initialisation row of the same model
  (``<model> (random init)``; a checkpoint ``<run>@<step>`` pairs with ``<run> (random init)``) on a task, the
  difference of their headline means over seeds with Welch's 95% interval (``workbench.evaluation.intervals``);
  "n/a" when either side has a single seed, and a mark when the interval contains 0 (no measured gain).
- **Majority-class baseline** per task: the task metric of always predicting the training split's majority
  class (no entity for NER) on the headline split(s) (``workbench.evaluation.baselines``).
- **Flags** on a row: ``degenerate`` when, for some seed, one class gets more than 95% of a headline split's
  predictions; ``chance`` when the headline mean is at most the majority baseline or its 95% t interval
  over seeds reaches it; ``not comparable`` when the task's test split is not the published one
  (``task.not_comparable``, e.g. carved from the official dev set by ``data=local``).
- **Pretraining-gain curve**: per task and run, the dev score of each evaluated checkpoint against the
  pretraining tokens it had seen, beside the run's random-init dev score (mean and 95% interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from workbench.evaluation.baselines import DEGENERATE_SHARE
from workbench.evaluation.config import RANDOM_INIT_SUFFIX
from workbench.evaluation.intervals import Difference, mean_interval, welch_difference
from workbench.evaluation.protocol import Leaderboard, Stat, TaskSummary


@dataclass(frozen=True)
class Gain:
    task: str
    label: str  # the pretrained row
    random_label: str  # its random-init row
    pretrained: Stat
    random: Stat
    difference: Difference


@dataclass(frozen=True)
class CurvePoint:
    label: str
    step: int
    tokens: Optional[int]  # None: the checkpoint did not record its tokens (older workbench); steps are shown
    dev: Stat


@dataclass
class Curve:
    task: str
    run: str
    points: List[CurvePoint]
    random_label: Optional[str] = None
    random_dev: Optional[Stat] = None


@dataclass
class Comparisons:
    gains: List[Gain] = field(default_factory=list)
    baselines: Dict[str, float] = field(default_factory=dict)  # task -> majority-class baseline (headline split)
    curves: List[Curve] = field(default_factory=list)
    not_comparable: Dict[str, str] = field(default_factory=dict)  # task -> why


def is_random_init(summary: TaskSummary) -> bool:
    return summary.hparams.get("init") == "random"


def _headline_splits(summary: TaskSummary) -> List[str]:
    return list(summary.tests) if summary.headline_split == "test" else ["dev"]


def majority_baseline(summary: TaskSummary) -> Optional[float]:
    """Mean over the headline splits of the stored ``majority_baseline`` (None when the kind has none)."""
    values = [summary.metrics[split]["majority_baseline"].mean for split in _headline_splits(summary)
              if "majority_baseline" in summary.metrics.get(split, {})]
    return sum(values) / len(values) if values else None


def degenerate_seeds(summary: TaskSummary) -> int:
    """Seeds whose predictions on some headline split give one class more than 95% of the examples."""
    shares = [summary.metrics[split]["top_prediction_share"].values for split in _headline_splits(summary)
              if "top_prediction_share" in summary.metrics.get(split, {})]
    return sum(1 for per_seed in zip(*shares) if max(per_seed) > DEGENERATE_SHARE)


def at_chance(summary: TaskSummary, baseline: Optional[float]) -> bool:
    if baseline is None:
        return False
    interval = mean_interval(summary.headline.mean, summary.headline.std, summary.headline.n)
    return summary.headline.mean <= baseline or (interval is not None and interval[0] <= baseline)


def _random_rows(board: Leaderboard) -> Dict[Tuple[str, str], TaskSummary]:
    """(model name without the suffix, task) -> random-init summary."""
    rows = {}
    for (label, task), summary in sorted(board.summaries.items()):
        if is_random_init(summary) and summary.model.endswith(RANDOM_INIT_SUFFIX):
            rows.setdefault((summary.model[: -len(RANDOM_INIT_SUFFIX)], task), summary)
    return rows


def random_row_of(summary: TaskSummary, random_rows: Dict[Tuple[str, str], TaskSummary]) -> Optional[TaskSummary]:
    names = [summary.model]
    if "pretraining" in summary.hparams:
        names.append(summary.model.rsplit("@", 1)[0])
    if summary.hparams.get("run"):
        names.append(str(summary.hparams["run"]))
    for name in names:
        if (name, summary.task) in random_rows:
            return random_rows[(name, summary.task)]
    return None


def compare(board: Leaderboard) -> Comparisons:
    """Gains, baselines and curves of ``board``; also sets each summary's ``flags``."""
    result = Comparisons()
    random_rows = _random_rows(board)
    curves: Dict[Tuple[str, str], Curve] = {}
    for task in board.tasks:
        for label in board.labels:
            summary = board.summaries.get((label, task))
            if summary is None:
                continue
            baseline = majority_baseline(summary)
            if baseline is not None:
                result.baselines.setdefault(task, baseline)
            if summary.hparams.get("not_comparable"):
                result.not_comparable.setdefault(task, str(summary.hparams["not_comparable"]))
            flags = []
            degenerate = degenerate_seeds(summary)
            if degenerate:
                flags.append(f"degenerate {degenerate}/{summary.headline.n} seeds")
            if at_chance(summary, baseline):
                flags.append("chance")
            if summary.hparams.get("not_comparable"):
                flags.append("not comparable")
            summary.flags = flags
            if is_random_init(summary):
                continue
            random = random_row_of(summary, random_rows)
            if random is not None:
                a, b = summary.headline, random.headline
                result.gains.append(Gain(task, label, random.label, a, b, welch_difference(a.mean, a.std, a.n, b.mean, b.std, b.n)))
            position = summary.hparams.get("pretraining")
            if position is not None:
                run = str(summary.hparams.get("run") or summary.model.rsplit("@", 1)[0])
                curve = curves.setdefault((task, run), Curve(task, run, []))
                tokens = position.get("tokens")
                curve.points.append(CurvePoint(label, int(position["step"]), None if tokens is None else int(tokens), summary.dev))
                if random is not None:
                    curve.random_label, curve.random_dev = random.label, random.dev
    for curve in curves.values():
        curve.points.sort(key=lambda point: point.step)
    result.curves = sorted(curves.values(), key=lambda c: (board.tasks.index(c.task), c.run))
    return result


def gain_cells(gain: Gain) -> List[str]:
    """Table cells: task, model, pretrained, random init, gain, 95% interval, whether it contains 0."""
    interval = gain.difference.interval
    if interval is None:
        interval_text, mark = "n/a (1 seed)", ""
    else:
        interval_text = f"[{interval[0]:+.1f}, {interval[1]:+.1f}]"
        mark = "contains 0" if gain.difference.contains_zero else ""
    return [
        gain.task, gain.label, f"{gain.pretrained.format()} (n={gain.pretrained.n})", f"{gain.random.format()} (n={gain.random.n})",
        f"{gain.difference.value:+.1f}", interval_text, mark,
    ]


GAIN_HEADER = ["task", "model", "pretrained", "random init", "gain", "95% interval (Welch)", "no measured gain"]
CURVE_HEADER = ["task", "run", "checkpoint", "step", "pretraining tokens", "dev", "dev gain over random init"]


def curve_rows(curves: List[Curve]) -> List[List[str]]:
    rows = []
    for curve in curves:
        for point in curve.points:
            gain = "—"
            if curve.random_dev is not None:
                gain = f"{point.dev.mean - curve.random_dev.mean:+.1f}"
            tokens = "not recorded" if point.tokens is None else f"{point.tokens:,}"
            rows.append([curve.task, curve.run, point.label, str(point.step), tokens, point.dev.format(), gain])
        if curve.random_dev is not None:
            interval = mean_interval(curve.random_dev.mean, curve.random_dev.std, curve.random_dev.n)
            band = f"{curve.random_dev.format()}" + (f", 95% [{interval[0]:.1f}, {interval[1]:.1f}]" if interval else ", n/a (1 seed)")
            rows.append([curve.task, curve.run, str(curve.random_label), "0", "0 (random init)", band, "—"])
    return rows
