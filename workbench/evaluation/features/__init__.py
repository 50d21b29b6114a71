"""Examples -> model features (pure functions of examples, a tokenizer and the task's lengths), collation, batch orders."""

from __future__ import annotations

from typing import List, Sequence

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.examples import Example
from workbench.evaluation.features.classification import classification_features
from workbench.evaluation.features.feature import IGNORE_INDEX, Feature
from workbench.evaluation.features.qa import qa_features
from workbench.evaluation.features.tokens import token_features
from workbench.tokenization.tokenizer import Tokenizer

__all__ = ["Feature", "IGNORE_INDEX", "featurize"]


def featurize(task: TaskConfig, examples: Sequence[Example], tokenizer: Tokenizer, labels: Sequence[str]) -> List[Feature]:
    """The features of ``examples`` for ``task.kind``."""
    if tokenizer.backend.truncation is not None or tokenizer.backend.padding is not None:
        raise ValueError(
            "the tokenizer backend truncates or pads by itself; features need whole encodings"
            " (call tokenizer.backend.no_truncation() and no_padding())"
        )
    if task.kind in ("classification", "pair_classification"):
        return classification_features(examples, tokenizer, labels, task.max_seq_len)  # type: ignore[arg-type]
    if task.kind == "token_classification":
        return token_features(examples, tokenizer, labels, task.max_seq_len)  # type: ignore[arg-type]
    return qa_features(examples, tokenizer, task.max_seq_len, task.doc_stride, task.max_question_len)  # type: ignore[arg-type]
