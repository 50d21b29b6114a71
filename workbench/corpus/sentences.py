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
from typing import List, Optional

import numpy as np

from workbench.text.codepoints import code_points

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


LINE_SEPARATOR = "\x00"  # joins cleaned lines for ``sentence_starts`` (a control character: never in a cleaned line)
_TERMINALS = ".!?…"
_CLOSERS = "\"'»”’)]"  # the closing marks of the pattern
# what may follow a run of terminal punctuation in a match: a closing mark or whitespace (``\\s``: str.isspace)
_FOLLOWERS = np.array(sorted({ord(c) for c in _CLOSERS} | {c for c in range(0x3001) if chr(c).isspace()}), dtype=np.uint32)


def _is_terminal(codepoints: np.ndarray) -> np.ndarray:
    mask = codepoints == ord(_TERMINALS[0])
    for char in _TERMINALS[1:]:
        mask |= codepoints == ord(char)
    return mask


def sentence_starts(text: str, codepoints: Optional[np.ndarray] = None) -> List[int]:
    """Where ``split_sentences`` cuts, for many lines at once: ``text`` is cleaned lines joined by
    ``LINE_SEPARATOR``; returns the position of every sentence start that is not a line start, in order.

    Same cuts as ``split_sentences`` on each line: no match reaches across the separator (it is neither
    punctuation, a closing or opening mark, whitespace nor a letter), and the lookbehinds see it as they see
    the start of a string (no abbreviation or initial contains it; ``\\b`` holds after it before a letter).
    Where the search succeeds: a match starts at a run of terminal punctuation and always takes the whole
    run (a terminal is neither whitespace nor a closing mark), and what decides success only looks at the
    run's end, so a search that fails at a run's first character fails inside the run too; and the run
    must be followed by whitespace or a closing mark. The pattern is tried only at the first character of
    such runs (found with numpy in ``codepoints``, the text as UTF-32 code points), not at every character.
    """
    if codepoints is None:
        codepoints = code_points(text)
    terminal = _is_terminal(codepoints)
    if not terminal.any():
        return []
    before = np.empty_like(terminal)
    before[0] = False
    before[1:] = terminal[:-1]
    after = np.empty_like(terminal)
    after[-1] = False
    after[:-1] = terminal[1:]
    run_first = np.flatnonzero(terminal & ~before)
    run_next = np.flatnonzero(terminal & ~after) + 1  # the character after each run
    follower = np.zeros(len(run_next), dtype=np.uint32)  # the end of the text: nothing follows (0 is no follower)
    inside = run_next < len(codepoints)
    follower[inside] = codepoints[run_next[inside]]
    match = _SPLIT.match
    starts: List[int] = []
    for position in run_first[np.isin(follower, _FOLLOWERS)].tolist():
        found = match(text, position)
        if found is not None:
            starts.append(found.end())
    return starts
