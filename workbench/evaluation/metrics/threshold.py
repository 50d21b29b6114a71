"""The decision threshold of multi-label classification, tuned on dev: one global threshold, exactly optimal.

Label l of an example is predicted when its probability p = sigmoid(logit) is
``>= threshold``. Every threshold between two consecutive distinct probabilities
gives the same predictions, so the search is exact rather than over a grid:
sort all probabilities once, grow the predicted set one probability at a time
(equal probabilities enter together) and track the F1 (micro, macro or
weighted) after each step with running per-label counts. The best cut gives
the threshold halfway between the last probability in and the first one out;
among cuts with the same best F1 the one whose threshold lies closest to 0.5
(the untuned rule) wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.evaluation.metrics.multilabel import multilabel_scores

AVERAGES = ("micro_f1", "macro_f1", "weighted_f1")


@dataclass(frozen=True)
class TunedThreshold:
    threshold: float
    score: float  # the tuned F1 (fraction) at that threshold
    scores: dict  # every multi-label score (fractions) at that threshold


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Float64 sigmoid without overflow warnings."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -logits))


def _f1_after_each_step(labels: np.ndarray, positives: np.ndarray, support: np.ndarray, average: str) -> np.ndarray:
    """F1 when the first k sorted entries are predicted, for k = 0..n (entry i: its label and whether it is gold)."""
    n = len(labels)
    if average == "micro_f1":
        tp = np.concatenate([[0.0], np.cumsum(positives)])
        denominator = np.arange(n + 1, dtype=np.float64) + support.sum()
        return np.divide(2 * tp, denominator, out=np.zeros(n + 1), where=denominator > 0)
    n_labels = len(support)
    if average == "macro_f1":
        weights = np.full(n_labels, 1.0 / n_labels)
    else:  # weighted_f1
        total = support.sum()
        weights = support / total if total > 0 else np.zeros(n_labels)
    # per entry, the predictions and true positives of its label once the entry is in: running counts within
    # each label's entries (grouped by a stable sort, so each group stays in decreasing probability order)
    grouped = np.argsort(labels, kind="stable")
    grouped_labels = labels[grouped]
    new_group = np.concatenate([[True], grouped_labels[1:] != grouped_labels[:-1]])
    group = np.cumsum(new_group) - 1
    starts = np.flatnonzero(new_group)
    grouped_positives = positives[grouped]
    running = np.cumsum(grouped_positives)
    predicted = np.empty(n)
    true_positives = np.empty(n)
    predicted[grouped] = np.arange(n) - starts[group] + 1
    true_positives[grouped] = running - (running[starts] - grouped_positives[starts])[group]
    gold = support[labels].astype(np.float64)

    def f1(tp: np.ndarray, pred: np.ndarray) -> np.ndarray:
        denominator = pred + gold
        return np.divide(2 * tp, denominator, out=np.zeros(n), where=denominator > 0)

    delta = weights[labels] * (f1(true_positives, predicted) - f1(true_positives - positives, predicted - 1))
    return np.concatenate([[0.0], np.cumsum(delta)])  # nothing predicted: every label's F1 is 0


def tune_threshold(probabilities: np.ndarray, gold: np.ndarray, average: str) -> TunedThreshold:
    """The global threshold maximizing ``average`` (micro_f1 | macro_f1 | weighted_f1) of ``probabilities >= t``
    against the boolean ``gold``, both ``[examples, labels]``."""
    if average not in AVERAGES:
        raise ValueError(f"unknown multi-label average {average!r}; choose one of {AVERAGES}")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    gold = np.asarray(gold, dtype=bool)
    if probabilities.shape != gold.shape or probabilities.ndim != 2 or probabilities.size == 0:
        raise ValueError(f"tune_threshold: probabilities {probabilities.shape} and gold {gold.shape} must be equal non-empty 2-d shapes")
    flat = probabilities.ravel()
    order = np.argsort(-flat, kind="stable")
    values = flat[order]
    labels = np.tile(np.arange(gold.shape[1]), gold.shape[0])[order]
    positives = gold.ravel()[order].astype(np.float64)
    f1 = _f1_after_each_step(labels, positives, gold.sum(0).astype(np.float64), average)
    n = len(values)
    cuts = np.concatenate([[0], np.flatnonzero(values[:-1] > values[1:]) + 1, [n]])  # equal values enter together
    thresholds = np.empty(len(cuts))
    for position, k in enumerate(cuts):
        if k == 0:  # nothing predicted
            thresholds[position] = (values[0] + 1.0) / 2 if values[0] < 1.0 else np.nextafter(1.0, 2.0)
        elif k == n:  # everything predicted
            thresholds[position] = values[-1] / 2
        else:
            middle = (values[k - 1] + values[k]) / 2
            thresholds[position] = middle if middle > values[k] else values[k - 1]  # adjacent floats: keep values[k] out
    candidates = f1[cuts]
    best = candidates.max()
    tied = np.flatnonzero(candidates >= best - 1e-12)
    chosen = min(tied, key=lambda i: (abs(thresholds[i] - 0.5), -thresholds[i]))
    threshold = float(thresholds[chosen])
    scores = multilabel_scores(gold, probabilities >= threshold)
    return TunedThreshold(threshold, scores[average], scores)
