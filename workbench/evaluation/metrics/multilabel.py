"""Multi-label F1 (micro, macro, weighted) with scikit-learn's definitions, over the task's whole label set.

Gold and predictions are boolean indicator matrices ``[examples, labels]``.
Per label, F1 = 2 tp / (2 tp + fp + fn), and 0 when the label is neither gold
nor predicted anywhere (scikit-learn's ``zero_division=0``; such a label still
counts in the macro average, as it does for ``f1_score(average="macro")`` on
indicator matrices). Micro F1 pools the counts of every label; macro F1 is the
unweighted mean of the per-label F1; weighted F1 weights each label's F1 by its
gold count (support). Subset accuracy is the fraction of examples whose
predicted label set is exactly the gold set.
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence

import numpy as np

MULTILABEL_SCORES = ("micro_f1", "macro_f1", "weighted_f1", "micro_precision", "micro_recall", "subset_accuracy")


def indicator(label_sets: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Boolean ``[len(label_sets), len(labels)]`` matrix; a name outside ``labels`` is a ``ValueError``."""
    index: Mapping[str, int] = {label: position for position, label in enumerate(labels)}
    matrix = np.zeros((len(label_sets), len(labels)), dtype=bool)
    for row, names in enumerate(label_sets):
        for name in names:
            if name not in index:
                raise ValueError(f"label {name!r} of example {row} is not one of {list(labels)}")
            matrix[row, index[name]] = True
    return matrix


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def per_label_f1(gold: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    tp = (gold & predicted).sum(0)
    return _ratio(2 * tp, gold.sum(0) + predicted.sum(0))


def multilabel_scores(gold: np.ndarray, predicted: np.ndarray) -> Dict[str, float]:
    """``MULTILABEL_SCORES`` as fractions (0 to 1) of indicator matrices of the same shape."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    if gold.shape != predicted.shape or gold.ndim != 2:
        raise ValueError(f"multi-label scores: gold {gold.shape} and predictions {predicted.shape} must be equal 2-d shapes")
    if gold.shape[0] == 0:
        raise ValueError("multi-label scores of an empty split are undefined")
    tp = float((gold & predicted).sum())
    n_gold, n_predicted = float(gold.sum()), float(predicted.sum())
    f1 = per_label_f1(gold, predicted)
    support = gold.sum(0)
    return {
        "micro_f1": float(_ratio(2 * tp, n_gold + n_predicted)),
        "macro_f1": float(f1.mean()) if f1.size else 0.0,
        "weighted_f1": float(_ratio((f1 * support).sum(), support.sum())),
        "micro_precision": float(_ratio(tp, n_predicted)),
        "micro_recall": float(_ratio(tp, n_gold)),
        "subset_accuracy": float((gold == predicted).all(1).mean()),
    }
