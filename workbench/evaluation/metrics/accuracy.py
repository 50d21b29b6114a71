"""Classification accuracy."""

from __future__ import annotations

from typing import Sequence


def accuracy(gold: Sequence[object], predicted: Sequence[object]) -> float:
    """Fraction of positions where ``predicted`` equals ``gold`` (0.0 to 1.0)."""
    if len(gold) != len(predicted):
        raise ValueError(f"accuracy: {len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("accuracy of an empty split is undefined")
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)
