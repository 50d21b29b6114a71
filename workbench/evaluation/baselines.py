"""What an evaluation split's score means: the majority-class baseline and how concentrated the predictions are.

Stored with every job's scores (percent, like the metrics), per evaluation split:

- ``majority_baseline``: the task metric of always predicting the training split's most frequent label
  (classification; ties: the first label in sorted order) or no entity at all (token classification, every
  tag ``O``: entity F1 0). Extractive QA and multi-label tasks have none;
- ``top_prediction_share``: the share of the split's examples given the most frequent predicted label
  (classification only). Above 95 the report marks the model "degenerate" (one class for nearly everything).
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Optional, Sequence

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import Example, TaggedSentence, TextExample
from workbench.evaluation.metrics import PRIMARY_METRIC, score_split

DEGENERATE_SHARE = 95.0  # percent of a test split predicted as one class


def majority_label(train: Sequence[Example]) -> Optional[str]:
    counts = Counter(e.label for e in train if isinstance(e, TextExample) and e.label is not None)
    if not counts:
        return None
    return min(counts, key=lambda label: (-counts[label], label))


def majority_predictions(task: TaskConfig, train: Sequence[Example], examples: Sequence[Example]) -> Optional[List[object]]:
    """The majority-class predictor's predictions for ``examples``, or None when the task kind has none."""
    if task.kind in ("classification", "pair_classification"):
        label = majority_label(train)
        return None if label is None else [label] * len(examples)
    if task.kind == "token_classification":
        return [["O"] * len(e.tokens) for e in examples if isinstance(e, TaggedSentence)]
    return None


def top_prediction_share(predictions: Sequence[object]) -> float:
    """Percent of ``predictions`` equal to the most frequent one (0 for an empty split)."""
    if not predictions:
        return 0.0
    return 100.0 * max(Counter(predictions).values()) / len(predictions)  # type: ignore[arg-type]


def baseline_scores(task: TaskConfig, train: Sequence[Example], examples: Sequence[Example],
                    predictions: Sequence[object]) -> Dict[str, float]:
    """``majority_baseline`` and ``top_prediction_share`` of one evaluation split (those that apply)."""
    scores: Dict[str, float] = {}
    majority = majority_predictions(task, train, examples)
    if majority is not None and examples:
        scores["majority_baseline"] = score_split(task.metric, examples, majority, task.squad_normalization)[PRIMARY_METRIC[task.metric]]
    if task.kind in ("classification", "pair_classification"):
        scores["top_prediction_share"] = top_prediction_share(predictions)
    return scores
