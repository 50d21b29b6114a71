"""From model outputs per feature back to one prediction per example (label name, IOB2 tags, answer text)."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from workbench.evaluation.examples import QAExample, TaggedSentence
from workbench.evaluation.features.feature import Feature


def classification_predictions(logits: Sequence[np.ndarray], labels: Sequence[str]) -> List[str]:
    return [labels[int(np.argmax(row))] for row in logits]


def token_predictions(
    examples: Sequence[TaggedSentence], features: Sequence[Feature], logits: Sequence[np.ndarray], labels: Sequence[str]
) -> List[List[str]]:
    """IOB2 tags per word; a word without any token (or never scored) is ``O``."""
    return scored_token_predictions(examples, features, logits, labels)[0]


def scored_token_predictions(
    examples: Sequence[TaggedSentence], features: Sequence[Feature], logits: Sequence[np.ndarray], labels: Sequence[str]
) -> Tuple[List[List[str]], List[List[Optional[float]]]]:
    """``token_predictions`` and, per word, the softmax probability of its tag at the token that chose it
    (None for a word never scored)."""
    tags = [["O"] * len(example.tokens) for example in examples]
    scores: List[List[Optional[float]]] = [[None] * len(example.tokens) for example in examples]
    for feature, rows in zip(features, logits):
        assert feature.word_index is not None
        rows = np.asarray(rows, dtype=np.float64)[: len(feature.word_index)]
        best = rows.argmax(-1)
        shifted = np.exp(rows - rows.max(-1, keepdims=True))
        probabilities = shifted.max(-1) / shifted.sum(-1)
        for position, word in enumerate(feature.word_index):
            if word >= 0:
                tags[feature.example_index][word] = labels[int(best[position])]
                scores[feature.example_index][word] = float(probabilities[position])
    return tags, scores


def qa_predictions(
    examples: Sequence[QAExample],
    features: Sequence[Feature],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    n_best: int,
    max_answer_len: int,
) -> List[str]:
    """Best span over all windows of each question (``scored_qa_predictions``' answers)."""
    return scored_qa_predictions(examples, features, start_logits, end_logits, n_best, max_answer_len)[0]


def scored_qa_predictions(
    examples: Sequence[QAExample],
    features: Sequence[Feature],
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    n_best: int,
    max_answer_len: int,
) -> Tuple[List[str], List[Optional[float]]]:
    """Best span over all windows of each question: the n-best starts x n-best ends of each window, score =
    start + end logit, ``start <= end < start + max_answer_len``, both inside the context; the answer is the
    original context text between the span's character offsets; with each answer its score (None: no span)."""
    best_score = [-np.inf] * len(examples)
    answers = [""] * len(examples)
    for feature, starts, ends in zip(features, start_logits, end_logits):
        offsets = feature.offsets
        assert offsets is not None
        length = len(offsets)
        in_context = np.array([span is not None for span in offsets])
        if not in_context.any():
            continue
        starts = np.where(in_context, np.asarray(starts, dtype=np.float64)[:length], -np.inf)
        ends = np.where(in_context, np.asarray(ends, dtype=np.float64)[:length], -np.inf)
        count = min(n_best, int(in_context.sum()))
        top_starts = np.argsort(-starts, kind="stable")[:count]
        top_ends = np.argsort(-ends, kind="stable")[:count]
        index = feature.example_index
        context = examples[index].context
        for s in top_starts:
            for e in top_ends:
                if e < s or e - s + 1 > max_answer_len:
                    continue
                score = starts[s] + ends[e]
                if score > best_score[index]:
                    best_score[index] = score
                    answers[index] = context[offsets[s][0] : offsets[e][1]]
    return answers, [float(score) if np.isfinite(score) else None for score in best_score]
