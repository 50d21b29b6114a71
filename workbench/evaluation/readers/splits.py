"""Held-out splits carved from train (when a task has no official dev/test) and quick-run subsampling.

The carve depends only on ``task.split_seed`` (and ``task.carve_group``), never on the training seed, so every
model and seed is selected and scored on the same examples. QA examples are held
out by whole article (title) so no context is seen both in training and in evaluation.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from workbench.evaluation.examples import Example, QAExample


def _group_key(example: Example, index: int, group: str) -> object:
    if isinstance(example, QAExample):
        return ("title", example.title or example.context)
    if group == "text":
        return ("text", getattr(example, "text", index))
    return index


def carve(
    examples: Sequence[Example], fractions: Sequence[float], seed: int, group: str = "example"
) -> Tuple[List[Example], List[List[Example]]]:
    """Split ``examples`` into (rest, [held-out part per fraction]); each part keeps file order. ``group="text"``
    holds out examples sharing their first text together (XNLI's three hypotheses of one premise)."""
    groups: Dict[object, int] = {}
    membership = []
    for index, example in enumerate(examples):
        membership.append(groups.setdefault(_group_key(example, index, group), len(groups)))
    order = np.random.default_rng(seed).permutation(len(groups))
    assignment = np.full(len(groups), -1)
    start = 0
    for part, fraction in enumerate(fractions):
        count = int(round(fraction * len(groups)))
        if fraction > 0:
            count = max(count, 1)
        assignment[order[start : start + count]] = part
        start += count
    rest: List[Example] = []
    held: List[List[Example]] = [[] for _ in fractions]
    for example, group in zip(examples, membership):
        part = assignment[group]
        (rest if part < 0 else held[part]).append(example)
    return rest, held


def first(examples: List[Example], limit: int | None) -> List[Example]:
    return examples if limit is None else examples[:limit]
