"""The evaluation protocol applied to stored results: model selection on dev, mean ± std over seeds, averages.

For each model checkpoint and task, the hyperparameter configuration (e.g. one
learning rate of the grid) with the best mean dev score over its seeds is
selected; its dev and test scores are reported as mean ± sample standard
deviation over those seeds (0 for a single seed). A task's headline score is the
mean over its labeled test splits (MNLI: matched and mismatched), or dev when
it has none (flagged). Averages are unweighted means of headline scores over a
group of the report's tasks (``AVERAGES``): "FLUE avg" over the tasks recorded
with ``task.benchmark=flue`` only, "French (non-FLUE) avg" over the other French
tasks, and likewise "GLUE avg" / "English (non-GLUE) avg"; the leaderboard names
the tasks of each. A model missing one of a group's tasks gets no average of
that group, since averages over different task sets are not comparable. Tasks of
any other language (the custom task templates use ``custom``) are listed after
them and enter no average. Rows stored before the benchmark was recorded (a
version-1 database) count as ``none`` and are listed in ``unrecorded``.

One row per encoder weights: model names whose jobs recorded the same ``weights_id``
(``workbench.evaluation.weights_identity``: a run folder and its transformers export, one folder under two
``finetune.model_name``) share the row of the plainest name, and the leaderboard lists the other names as
aliases. Checkpoint rows (``<run>@<step>``) stay apart: they are the points of the pretraining-gain curve.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from workbench.evaluation.results_db import ResultRow

# (language, benchmark, name) of each average, in leaderboard order
AVERAGES = (
    ("fr", "flue", "FLUE avg"),
    ("fr", "none", "French (non-FLUE) avg"),
    ("en", "glue", "GLUE avg"),
    ("en", "none", "English (non-GLUE) avg"),
)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int
    values: Tuple[float, ...] = field(default=(), compare=False)  # per seed, in seed order

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        return cls(mean, std, n, tuple(values))

    def format(self, digits: int = 1) -> str:
        """``mean ± std``; a single seed has no spread to show: ``mean (1 seed)``."""
        if self.n == 1:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


@dataclass
class TaskSummary:
    label: str  # leaderboard name of the model checkpoint
    model: str
    checkpoint_hash: str
    task: str
    language: str
    primary_metric: str
    hparams: Dict[str, Any]
    hparams_hash: str
    seeds: List[int]
    configs_tried: int
    dev: Stat
    tests: Dict[str, Stat]  # primary metric per labeled test split
    metrics: Dict[str, Dict[str, Stat]]  # split -> metric -> stat (every stored metric)
    headline: Stat
    headline_split: str  # "test" or "dev" (no labeled test split)
    benchmark: str = "none"  # flue | glue | none ('' in rows stored before it was recorded)
    squad_normalization: str = ""  # extractive QA: official | french; '' otherwise
    # every (model, checkpoint hash) of the row: more than one when several names hold the same encoder weights
    members: List[Tuple[str, str]] = field(default_factory=list)
    flags: List[str] = field(default_factory=list)  # set by workbench.evaluation.comparisons (degenerate, chance level, ...)


@dataclass
class Leaderboard:
    labels: List[str]
    tasks: List[str]
    languages: Dict[str, str]  # task -> language
    summaries: Dict[Tuple[str, str], TaskSummary]  # (label, task) -> summary
    averages: Dict[str, Dict[str, Optional[float]]] = field(default_factory=dict)  # label -> average name -> value
    benchmarks: Dict[str, str] = field(default_factory=dict)  # task -> flue | glue | none
    unrecorded: List[str] = field(default_factory=list)  # tasks whose rows do not record their benchmark

    def aliases(self) -> Dict[str, List[str]]:
        """Label -> the other model names whose results share its row (same encoder weights)."""
        found: Dict[str, set] = defaultdict(set)
        for (label, _), summary in self.summaries.items():
            found[label].update(model for model, _ in summary.members if model != summary.model)
        return {label: sorted(names) for label, names in sorted(found.items()) if names}

    def tasks_of(self, language: str) -> List[str]:
        return [task for task in self.tasks if self.languages[task] == language]

    def average_tasks(self) -> Dict[str, List[str]]:
        """Average name -> the report's tasks it averages (only the averages that have tasks)."""
        groups = {name: [t for t in self.tasks if (self.languages[t], self.benchmarks.get(t, "none")) == (language, benchmark)]
                  for language, benchmark, name in AVERAGES}
        return {name: tasks for name, tasks in groups.items() if tasks}


def _canonical(rows: Sequence[ResultRow]) -> Dict[Tuple[str, str], Tuple[str, str]]:
    """(model, checkpoint hash) -> the (model, checkpoint hash) whose row it is: the names that hold the same
    encoder weights (one ``weights_id``, e.g. ``runs/<run>`` and its ``transformers/`` export) share the row of
    the plainest name (no ``@``, then the shortest); checkpoints of a run keep their ``<run>@<step>`` rows."""
    groups: Dict[str, set] = defaultdict(set)
    for row in rows:
        # a checkpoint row (<run>@<step>) keeps its own row even when it equals the final model: it is a point of
        # the pretraining-gain curve (workbench.evaluation.comparisons)
        if row.weights_id and "pretraining" not in row.hparams:
            groups[row.weights_id].add((row.model, row.checkpoint_hash))
    canonical = {(row.model, row.checkpoint_hash): (row.model, row.checkpoint_hash) for row in rows}
    for members in groups.values():
        primary = min(members, key=lambda member: ("@" in member[0], len(member[0]), member))
        canonical.update({member: primary for member in members})
    return canonical


def _labels(pairs: Sequence[Tuple[str, str]]) -> Dict[Tuple[str, str], str]:
    hashes: Dict[str, set] = defaultdict(set)
    for model, checkpoint in pairs:
        hashes[model].add(checkpoint)
    return {(model, checkpoint): model if len(hashes[model]) == 1 else f"{model}@{checkpoint[:8]}" for model, checkpoint in pairs}


def summarize(rows: Sequence[ResultRow]) -> Leaderboard:
    canonical = _canonical(rows)
    labels = _labels(sorted(set(canonical.values())))
    members: Dict[Tuple[str, str], set] = defaultdict(set)  # canonical pair -> every (model, checkpoint) it stands for
    for pair, primary in canonical.items():
        members[primary].add(pair)
    # (model, ckpt, task) -> hparams_hash -> seed -> split -> metric -> value
    jobs: Dict[Tuple[str, str, str], Dict[str, Dict[int, Dict[str, Dict[str, float]]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    )
    info: Dict[Tuple[str, str, str], ResultRow] = {}
    hparams: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        key = (*canonical[(row.model, row.checkpoint_hash)], row.task)
        jobs[key][row.hparams_hash][row.seed][row.split][row.metric] = row.value
        info[key] = row
        hparams[row.hparams_hash] = row.hparams

    summaries: Dict[Tuple[str, str], TaskSummary] = {}
    languages: Dict[str, str] = {}
    benchmarks: Dict[str, str] = {}
    unrecorded = sorted({row.task for row in rows if not row.benchmark})
    for key, configs in jobs.items():
        first = info[key]
        primary = first.primary_metric
        languages[first.task] = first.language
        benchmarks[first.task] = first.benchmark or "none"
        candidates = []
        for config_hash, seeds in configs.items():
            dev_scores = [splits["dev"][primary] for splits in seeds.values() if primary in splits.get("dev", {})]
            if dev_scores:
                candidates.append((Stat.of(dev_scores).mean, len(dev_scores), config_hash))
        if not candidates:
            continue
        _, _, best = max(candidates, key=lambda c: (c[0], c[1], c[2]))
        seeds = {seed: splits for seed, splits in configs[best].items() if primary in splits.get("dev", {})}
        splits = sorted({split for per_seed in seeds.values() for split in per_seed})
        metrics: Dict[str, Dict[str, Stat]] = {}
        for split in splits:
            names = sorted({metric for per_seed in seeds.values() for metric in per_seed.get(split, {})})
            metrics[split] = {
                name: Stat.of([per_seed[split][name] for per_seed in seeds.values() if name in per_seed.get(split, {})])
                for name in names
            }
        test_splits = [split for split in splits if split not in ("dev", "train") and primary in metrics[split]]
        tests = {split: metrics[split][primary] for split in test_splits}
        if test_splits:
            per_seed = [
                sum(s[split][primary] for split in test_splits) / len(test_splits)
                for s in seeds.values()
                if all(primary in s.get(split, {}) for split in test_splits)
            ]
            headline, headline_split = Stat.of(per_seed), "test"
        else:
            headline, headline_split = metrics["dev"][primary], "dev"
        label = labels[(key[0], key[1])]
        summaries[(label, key[2])] = TaskSummary(
            label, key[0], key[1], key[2], first.language, primary, hparams[best], best, sorted(seeds),
            len(configs), metrics["dev"][primary], tests, metrics, headline, headline_split,
            first.benchmark or "none", first.squad_normalization, sorted(members[(key[0], key[1])]),
        )

    all_labels = sorted({label for label, _ in summaries})
    group = {(language, benchmark): position for position, (language, benchmark, _) in enumerate(AVERAGES)}
    tasks = sorted({task for _, task in summaries},  # FLUE, other French, GLUE, other English, then the others
                   key=lambda t: (group.get((languages[t], benchmarks[t]), len(group)), languages[t], t))
    board = Leaderboard(all_labels, tasks, languages, summaries, benchmarks=benchmarks,
                        unrecorded=[t for t in unrecorded if t in tasks])
    for label in all_labels:
        board.averages[label] = {}
        for name, group_tasks in board.average_tasks().items():
            values = [summaries[(label, t)].headline.mean for t in group_tasks if (label, t) in summaries]
            board.averages[label][name] = sum(values) / len(values) if len(values) == len(group_tasks) else None
    order = {label: board.averages[label] for label in all_labels}
    board.labels.sort(key=lambda label: tuple(-(v if v is not None else -1.0) for v in order[label].values()) + (label,))
    return board
