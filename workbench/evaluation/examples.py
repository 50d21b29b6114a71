"""Typed examples every reader produces, whatever the file format.

Labels are strings (the label names of the task); ``None`` marks an unlabeled
example (e.g. the XTREME test files, whose labels were removed). A multi-label
example carries a tuple of label names, possibly empty (no label applies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union


@dataclass(frozen=True)
class TextExample:
    """Single-sentence (``pair is None``) or sentence-pair classification."""

    text: str
    pair: Optional[str]
    label: Optional[str]
    source: str = ""  # "file:line" of the example, for error messages


@dataclass(frozen=True)
class MultiLabelExample:
    """Multi-label classification of a text (or text pair): every label that applies, sorted, without repeats."""

    text: str
    pair: Optional[str]
    labels: Optional[Tuple[str, ...]]  # () when no label applies; None: unlabeled
    source: str = ""


@dataclass(frozen=True)
class TaggedSentence:
    """Token classification: one pre-split sentence and its IOB2 tags."""

    tokens: Tuple[str, ...]
    tags: Optional[Tuple[str, ...]]
    source: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset of the answer in the context


@dataclass(frozen=True)
class QAExample:
    """Extractive question answering (SQuAD v1.1 semantics: every question has an answer)."""

    id: str
    title: str
    question: str
    context: str
    answers: Tuple[Answer, ...]
    source: str = ""


Example = Union[TextExample, MultiLabelExample, TaggedSentence, QAExample]


def is_labeled(examples: Sequence[Example]) -> bool:
    """True when every example carries its gold label (tags, answers)."""
    for example in examples:
        if isinstance(example, TextExample) and example.label is None:
            return False
        if isinstance(example, MultiLabelExample) and example.labels is None:
            return False
        if isinstance(example, TaggedSentence) and example.tags is None:
            return False
        if isinstance(example, QAExample) and not example.answers:
            return False
    return bool(examples)


def label_set(examples: Sequence[Example]) -> List[str]:
    """Sorted label names seen in ``examples`` (classification labels or entity tags)."""
    seen = set()
    for example in examples:
        if isinstance(example, TextExample) and example.label is not None:
            seen.add(example.label)
        elif isinstance(example, MultiLabelExample) and example.labels is not None:
            seen.update(example.labels)
        elif isinstance(example, TaggedSentence) and example.tags is not None:
            seen.update(example.tags)
    return sorted(seen)
