"""Entity-level precision, recall and F1 with the semantics of ``seqeval`` (default mode, i.e. conlleval).

An entity is a maximal chunk (type, start, end). As in conlleval, a chunk starts
at ``B-X``, at ``I-X`` after ``O`` or after another type, and ends before ``O``,
``B-*`` or a change of type; so an ``I-X`` that opens a chunk (a malformed IOB2
prediction) still counts as an entity. Scores are micro-averaged over entities
of all types: precision = correct / predicted, recall = correct / gold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Set, Tuple

Entity = Tuple[str, int, int]  # (type, first token, last token), inclusive like seqeval


def _parts(tag: str) -> Tuple[str, str]:
    """(prefix, type) as seqeval reads a tag: first character, then the text after the first '-'."""
    if not tag:
        return "O", "_"
    prefix = tag[0]
    kind = tag[1:].split("-", maxsplit=1)[-1] or "_"
    return prefix, kind


def entities(tags: Sequence[str]) -> List[Entity]:
    """The chunks of one sentence's IOB tags, in order."""
    chunks: List[Entity] = []
    prev_prefix, prev_kind, begin = "O", "", 0
    for index, tag in enumerate([*tags, "O"]):
        prefix, kind = _parts(tag)
        ends = prev_prefix in ("B", "I") and (prefix in ("B", "O") or prev_kind != kind)
        if ends:
            chunks.append((prev_kind, begin, index - 1))
        starts = prefix == "B" or (prev_prefix == "O" and prefix == "I") or (prefix != "O" and prev_kind != kind)
        if starts:
            begin = index
        prev_prefix, prev_kind = prefix, kind
    return chunks


@dataclass(frozen=True)
class EntityScores:
    precision: float
    recall: float
    f1: float
    n_gold: int
    n_predicted: int
    n_correct: int
    per_type: Dict[str, Tuple[float, float, float, int]]  # type -> (precision, recall, f1, support)


def _prf(correct: int, predicted: int, gold: int) -> Tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> EntityScores:
    """Micro P/R/F1 over the entities of every sentence (fractions, like ``seqeval.metrics``)."""
    if len(gold) != len(predicted):
        raise ValueError(f"entity F1: {len(gold)} gold sentences but {len(predicted)} predicted")
    gold_set: Set[Tuple[int, str, int, int]] = set()
    pred_set: Set[Tuple[int, str, int, int]] = set()
    for sentence, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"entity F1: sentence {sentence} has {len(g)} gold tags but {len(p)} predicted")
        gold_set.update((sentence, *entity) for entity in entities(g))
        pred_set.update((sentence, *entity) for entity in entities(p))
    correct = gold_set & pred_set
    per_type = {}
    for kind in sorted({e[1] for e in gold_set | pred_set}):
        n_c = sum(1 for e in correct if e[1] == kind)
        n_p = sum(1 for e in pred_set if e[1] == kind)
        n_g = sum(1 for e in gold_set if e[1] == kind)
        per_type[kind] = (*_prf(n_c, n_p, n_g), n_g)
    precision, recall, f1 = _prf(len(correct), len(pred_set), len(gold_set))
    return EntityScores(precision, recall, f1, len(gold_set), len(pred_set), len(correct), per_type)
