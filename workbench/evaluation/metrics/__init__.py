"""Task metrics: accuracy, entity F1 (seqeval semantics), SQuAD EM/F1 (official and French).

``score_split`` turns gold examples and predictions into a ``{metric: value}``
dict, every value in percent; ``PRIMARY_METRIC`` names the value used for
model selection and averages.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

from workbench.evaluation.examples import Example, QAExample, TaggedSentence, TextExample
from workbench.evaluation.metrics.accuracy import accuracy
from workbench.evaluation.metrics.entity_f1 import entity_scores
from workbench.evaluation.metrics.squad import squad_scores

PRIMARY_METRIC = {"accuracy": "accuracy", "entity_f1": "f1", "squad": "f1"}


def score_split(metric: str, examples: Sequence[Example], predictions: Sequence[object], squad_normalization: str = "official") -> Dict[str, float]:
    """Scores (percent) of ``predictions`` aligned with ``examples``.

    accuracy: predictions are label names; entity_f1: one IOB2 tag list per sentence;
    squad: one answer text per question.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    if metric == "accuracy":
        gold = [e.label for e in examples if isinstance(e, TextExample)]
        return {"accuracy": 100.0 * accuracy(gold, list(predictions))}
    if metric == "entity_f1":
        tags: List[Sequence[str]] = [e.tags for e in examples if isinstance(e, TaggedSentence)]  # type: ignore[misc]
        scores = entity_scores(tags, [list(p) for p in predictions])  # type: ignore[arg-type]
        return {"f1": 100.0 * scores.f1, "precision": 100.0 * scores.precision, "recall": 100.0 * scores.recall}
    if metric == "squad":
        gold: Mapping[str, Sequence[str]] = {e.id: [a.text for a in e.answers] for e in examples if isinstance(e, QAExample)}
        answers = {e.id: str(p) for e, p in zip(examples, predictions)}
        return squad_scores(gold, answers, squad_normalization)
    raise ValueError(f"unknown metric {metric!r}")
