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

_UPPER = "A-ZÀ-ÖØ-Þ"
# checked after the period is matched (so only at periods): "M." "etc." "J.-C." and initials "J." do not end
_BY_LENGTH: dict = {}
for _abbreviation in sorted(ABBREVIATIONS):
    _BY_LENGTH.setdefault(len(_abbreviation), []).append(re.escape(_abbreviation))
# one fixed-width lookbehind per length (Python's re needs fixed width; alternatives of one width are fine)
_NOT_ABBREVIATION = "".join(f"(?<!\\b(?i:{'|'.join(words)})\\.)" for _length, words in sorted(_BY_LENGTH.items()))
_NOT_ABBREVIATION += f"(?<!\\b[{_UPPER}]\\.)"
# group 1: the terminal punctuation (and closing quotes/brackets) that ends a sentence: a run of two or more
# marks, a single ! ? or …, or a single period not closing an abbreviation or initial; the spaces after it are
# the separator; the lookahead requires something that can start a sentence. The pattern starts with a
# character class, so the regex engine only stops at punctuation.
_SPLIT = re.compile(
    r"([.!?…]+(?:(?<=[.!?…][.!?…])|(?<=[!?…])|" + _NOT_ABBREVIATION + r")(?:\s?[\"'»”’)\]])*)\s+"
    r"(?=[\"'«“‘(\[—–\-¡¿]?\s?[0-9" + _UPPER + r"Ā-ſ])"
)


def split_sentences(line: str) -> List[str]:
    """Sentences of one cleaned line (single spaces between words), in order, nothing lost.

    One C-level ``re.split`` per line: abbreviations and initials are negative lookbehinds.
    """
    parts = _SPLIT.split(line)
    if len(parts) == 1:
        return [line] if line else []
    sentences = [text + punct for text, punct in zip(parts[0::2], parts[1::2])]
    if parts[-1]:
        sentences.append(parts[-1])
    return sentences
