"""Task metrics: accuracy, multi-label F1 (scikit-learn semantics), entity F1 (seqeval semantics), SQuAD EM/F1 (official and French).

``score_split`` turns gold examples and predictions into a ``{metric: value}``
dict, every value in percent; ``PRIMARY_METRIC`` names the value used for
model selection and averages.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

from workbench.evaluation.examples import Example, MultiLabelExample, QAExample, TaggedSentence, TextExample
from workbench.evaluation.metrics.accuracy import accuracy
from workbench.evaluation.metrics.entity_f1 import entity_scores
from workbench.evaluation.metrics.multilabel import indicator, multilabel_scores
from workbench.evaluation.metrics.squad import squad_scores

PRIMARY_METRIC = {
    "accuracy": "accuracy", "entity_f1": "f1", "squad": "f1",
    "micro_f1": "micro_f1", "macro_f1": "macro_f1", "weighted_f1": "weighted_f1",
}


def score_split(
    metric: str,
    examples: Sequence[Example],
    predictions: Sequence[object],
    squad_normalization: str = "official",
    labels: Sequence[str] = (),
) -> Dict[str, float]:
    """Scores (percent) of ``predictions`` aligned with ``examples``.

    accuracy: predictions are label names; micro/macro/weighted_f1: one list of label names per example,
    scored over the task's ``labels`` (every multi-label score is returned, whichever is primary);
    entity_f1: one IOB2 tag list per sentence; squad: one answer text per question.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    if metric in ("micro_f1", "macro_f1", "weighted_f1"):
        if not labels:
            raise ValueError("multi-label scores need the task's label list")
        gold = indicator([e.labels or () for e in examples if isinstance(e, MultiLabelExample)], labels)
        predicted = indicator([list(p) for p in predictions], labels)  # type: ignore[call-overload]
        return {name: 100.0 * value for name, value in multilabel_scores(gold, predicted).items()}
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
