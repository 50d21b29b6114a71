"""Rule-based sentence splitting for French and English prose (pure).

A boundary is a run of terminal punctuation (. ! ? … and combinations),
optionally followed by closing quotes/brackets, then whitespace, then
something that can start a sentence (an upper-case letter, a digit, an
opening quote, a dash or a bracket). A period is not a boundary after a known
abbreviation (M., Mme., Dr., etc., p., cf., ...) or after a single capital
letter (an initial). Splitting never loses or changes characters:
``" ".join(split_sentences(line)) == line`` for a cleaned line.
"""

from __future__ import annotations

import re
from typing import List

ABBREVIATIONS = frozenset(
    a.lower()
    for a in (
        # French
        "M MM Mme Mmes Mlle Mlles Mgr Me Dr Pr Prof St Ste Sts Stes etc cf p pp ex env av apr J.-C "
        "vol chap fig éd art al réf n° no nos t tom sq suiv ibid op cit hab min max approx dép ms "
        "lt col gén cap cdt sgt lieut capt adj cie Cie Vve Bd bd boul fg fbg "
        # English
        "Mr Mrs Ms Messrs Jr Sr Rev Hon Gen Col Capt Lt Sgt Maj Gov Sen Rep Ave Blvd Co Corp Inc Ltd "
        "vs e.g i.e a.m p.m U.S U.K No Nos Vol Fig Ch Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"
    ).split()
)

_BOUNDARY = re.compile(r"[.!?…]+(?:\s?[\"'»”’)\]])*\s+(?=[\"'«“‘(\[—–\-¡¿]?\s?[0-9A-ZÀ-ÖØ-ÞĀ-ſ])")


def _is_abbreviation(before: str) -> bool:
    word = before[before.rfind(" ") + 1 :].lstrip("\"'«“‘([—–-")
    if not word.endswith("."):
        return False
    stem = word[:-1]
    if len(stem) == 1 and stem.isalpha() and stem.isupper():
        return True  # an initial: "J. Verne"
    return stem.lower() in ABBREVIATIONS


def split_sentences(line: str) -> List[str]:
    """Sentences of one cleaned line (single spaces between words), in order, nothing lost."""
    sentences: List[str] = []
    start = 0
    for match in _BOUNDARY.finditer(line):
        end = match.end()
        candidate = line[start : match.start() + len(match.group(0).rstrip())]
        if match.group(0).rstrip() == "." and _is_abbreviation(candidate):
            continue
        if candidate.strip():
            sentences.append(candidate.strip())
        start = end
    rest = line[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences
