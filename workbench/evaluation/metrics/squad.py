"""Extractive QA exact match and F1.

``official`` reproduces the SQuAD v1.1 evaluation script exactly: lower-case,
drop ASCII punctuation (``string.punctuation``), drop the English articles
a/an/the, collapse whitespace; token-level F1 on whitespace tokens; the maximum
over the gold answers; percentages over all questions (an unanswered question
scores 0).

``french`` is the same pipeline adapted to French answers: the elided article
``l'``/``l’`` is removed before punctuation (which would otherwise glue it to the
noun: "l'homme" -> "lhomme"), every Unicode punctuation character is dropped
as well (« » ’ … – —), and the articles removed are le, la, les, un, une, des,
du, "de la" in addition to a, an, the. Scores under ``french`` are therefore
comparable across French models but not with numbers computed by the official
script.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from typing import Callable, Dict, Mapping, Sequence

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")
_FR_ELISION = re.compile(r"\bl['’ʼ]")
_FR_ARTICLES = re.compile(r"\b(de la|le|la|les|un|une|des|du|a|an|the)\b")


def normalize_official(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = _EN_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_french(text: str) -> str:
    text = text.lower()
    text = _FR_ELISION.sub(" ", text)
    text = "".join(" " if _is_punct(ch) else ch for ch in text)
    text = _FR_ARTICLES.sub(" ", text)
    return " ".join(text.split())


NORMALIZERS: Dict[str, Callable[[str], str]] = {"official": normalize_official, "french": normalize_french}


def exact_match(prediction: str, truth: str, normalize: Callable[[str], str] = normalize_official) -> float:
    return float(normalize(prediction) == normalize(truth))


def token_f1(prediction: str, truth: str, normalize: Callable[[str], str] = normalize_official) -> float:
    pred_tokens = normalize(prediction).split()
    truth_tokens = normalize(truth).split()
    common = Counter(pred_tokens) & Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str], normalization: str = "official"
) -> Dict[str, float]:
    """{'exact_match', 'f1'} in percent over every question of ``gold`` (question id -> gold answer texts)."""
    normalize = NORMALIZERS[normalization]
    if not gold:
        raise ValueError("SQuAD scores of an empty split are undefined")
    em = f1 = 0.0
    missing = 0
    for qid, truths in gold.items():
        if qid not in predictions:
            missing += 1
            continue
        prediction = predictions[qid]
        em += max(exact_match(prediction, truth, normalize) for truth in truths)
        f1 += max(token_f1(prediction, truth, normalize) for truth in truths)
    if missing:
        print(f"squad_scores: {missing} unanswered question(s) score 0", file=sys.stderr)
    return {"exact_match": 100.0 * em / len(gold), "f1": 100.0 * f1 / len(gold)}
