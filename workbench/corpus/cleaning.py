"""Line cleaning and quality filters (pure functions).

Every line goes through: Unicode normalization, removal of control and
invisible format characters, whitespace collapsing, then the length and
quality filters. A dropped line is counted under its reason; nothing is
dropped silently.
"""

from __future__ import annotations

import hashlib
import operator
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import List, MutableMapping, Optional, Sequence, Tuple

import numpy as np

REPLACEMENT_CHAR = "\ufffd"
NBSP = "\u00a0"

# Reasons a line or document is dropped (keys of the manifest's ``dropped`` counts).
EMPTY_LINE = "line_empty"  # had content, but nothing was left after cleaning (controls, invisible characters)
TOO_SHORT = "line_too_short"
TOO_LONG = "line_too_long"
LOW_ALPHA = "line_low_alpha"
UNDECODABLE = "line_undecodable"
EMPTY_DOCUMENT = "document_empty"
DUPLICATE_DOCUMENT = "document_duplicate"


def _control_table() -> dict:
    """Translation table: C0/C1 controls and invisible format characters removed, tab and odd breaks to space."""
    table: dict = {}
    for code in list(range(0, 32)) + [127] + list(range(0x80, 0xA0)):
        table[code] = None
    for code in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029):  # whitespace-like controls become spaces
        table[code] = " "
    for code in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD):  # zero-width, BOM, soft hyphen
        table[code] = None
    return table


_CONTROLS = _control_table()
_REMOVED = re.compile("[" + "".join(re.escape(chr(code)) for code, value in sorted(_CONTROLS.items()) if value is None) + "]")


@dataclass(frozen=True)
class CleaningRules:
    normalization: str = "NFC"  # NFC, NFKC or none
    min_chars: int = 1
    max_chars: int = 1_000_000
    min_alpha_fraction: float = 0.0
    skip_undecodable: bool = False


def clean_line(line: str, normalization: str) -> str:
    """Normalize, strip controls and collapse whitespace runs to one space."""
    if normalization != "none" and not unicodedata.is_normalized(normalization, line):
        line = unicodedata.normalize(normalization, line)
    if line.isprintable():  # the common case, one C scan: no control, format or non-ASCII space character
        line = line.strip(" ")
        return " ".join(line.split()) if "  " in line else line
    line = _REMOVED.sub("", line)  # controls and invisible format characters (whitespace controls split below)
    return " ".join(line.split())  # runs of spaces, tabs, NBSP, line separators...: one space


def alpha_fraction(line: str) -> float:
    if not line:
        return 0.0
    letters = sum(1 for char in line if char.isalpha())
    return letters / len(line)


def drop_reason(line: str, rules: CleaningRules) -> Optional[str]:
    """Why a cleaned line is dropped, or None when it is kept."""
    if not line:
        return EMPTY_LINE
    if len(line) < rules.min_chars:
        return TOO_SHORT
    if len(line) > rules.max_chars:
        return TOO_LONG
    if rules.skip_undecodable and REPLACEMENT_CHAR in line:
        return UNDECODABLE
    if rules.min_alpha_fraction > 0.0 and alpha_fraction(line) < rules.min_alpha_fraction:
        return LOW_ALPHA
    return None


def clean_document(text: str, rules: CleaningRules, stats: Optional[MutableMapping[str, int]], count: bool = True) -> Optional[List[str]]:
    """The kept, cleaned lines of a document; dropped lines counted in ``stats`` by reason.

    With ``count=False`` (the fast path) it returns None as soon as a line would be dropped, so that the
    caller only builds a counter for the rare documents that need one.
    """
    kept: List[str] = []
    normalization = rules.normalization
    lowest = max(rules.min_chars, 1)
    highest = rules.max_chars
    plain = not rules.skip_undecodable and rules.min_alpha_fraction <= 0.0
    for raw in text.split("\n"):
        line = clean_line(raw, normalization)
        if plain and lowest <= len(line) <= highest:
            kept.append(line)
            continue
        reason = drop_reason(line, rules)
        if reason is None:
            kept.append(line)
        elif line or raw.strip():  # blank separators are structure, not dropped content
            if not count:
                return None
            stats[reason] = stats.get(reason, 0) + 1  # type: ignore[index]
    return kept


# --- the same, for many lines at once (what prepare's workers run) ------------------------------------------
DROP_REASONS = (EMPTY_LINE, TOO_SHORT, TOO_LONG, UNDECODABLE, LOW_ALPHA)  # in the order drop_reason checks them
KEPT, SEPARATOR = 0, -1  # line codes besides 1 + index in DROP_REASONS


def clean_lines(lines: Sequence[str], normalization: str) -> List[str]:
    """``clean_line`` of every line. A line that is clean once its no-break spaces are plain spaces and its
    ends stripped of spaces (normalized, printable: no control, format or other non-ASCII space character;
    no double space) is what ``clean_line`` returns: a no-break space and a space are both starters that never
    compose, ``str.split`` treats them alike and NFKC maps one to the other; stripping spaces changes no
    normalization. Such lines, the vast majority, are recognised by C-level scans without a Python call
    each; the others go through ``clean_line``."""
    n = len(lines)
    out = list(lines)
    # no-break spaces (French typography puts one before ; : ! ? and inside « »): a line whose only
    # non-printable characters they are cleans to the line with plain spaces, when that is clean
    for i in np.flatnonzero(np.fromiter(map(str.__contains__, lines, repeat(NBSP)), dtype=bool, count=n)).tolist():
        out[i] = out[i].replace(NBSP, " ")
    out = list(map(str.strip, out, repeat(" ")))  # for a printable line, what clean_line strips
    clean = np.fromiter(map(str.isprintable, out), dtype=bool, count=n)
    if normalization != "none":
        clean &= np.fromiter(map(partial(unicodedata.is_normalized, normalization), out), dtype=bool, count=n)
    clean &= ~np.fromiter(map(str.__contains__, out, repeat("  ")), dtype=bool, count=n)
    for i in np.flatnonzero(~clean).tolist():
        out[i] = clean_line(lines[i], normalization)
    return out


def line_codes(cleaned: Sequence[str], raw: Sequence[str], rules: CleaningRules) -> np.ndarray:
    """Per cleaned line: ``KEPT``, ``SEPARATOR`` (blank: structure, not dropped content, not counted) or
    1 + the index in ``DROP_REASONS`` of the reason ``drop_reason`` gives."""
    n = len(cleaned)
    lengths = np.fromiter(map(len, cleaned), dtype=np.int64, count=n)
    codes = np.zeros(n, dtype=np.int8)
    for i in np.flatnonzero(lengths == 0).tolist():
        codes[i] = SEPARATOR if not raw[i].strip() else 1 + DROP_REASONS.index(EMPTY_LINE)
    codes[(codes == KEPT) & (lengths < rules.min_chars)] = 1 + DROP_REASONS.index(TOO_SHORT)
    codes[(codes == KEPT) & (lengths > rules.max_chars)] = 1 + DROP_REASONS.index(TOO_LONG)
    if rules.skip_undecodable:
        bad = np.fromiter(map(str.__contains__, cleaned, repeat(REPLACEMENT_CHAR)), dtype=bool, count=n)
        codes[(codes == KEPT) & bad] = 1 + DROP_REASONS.index(UNDECODABLE)
    if rules.min_alpha_fraction > 0.0:
        for i in np.flatnonzero(codes == KEPT).tolist():
            if alpha_fraction(cleaned[i]) < rules.min_alpha_fraction:
                codes[i] = 1 + DROP_REASONS.index(LOW_ALPHA)
    return codes


def text_hash(text: str) -> int:
    """64-bit content hash of a cleaned document given as its lines joined by newlines."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """``text_hash`` of many texts (uint64), as C-level passes: no Python call per text."""
    encoded = map(str.encode, texts, repeat("utf-8"), repeat("surrogatepass"))
    digests = map(_DIGEST, map(partial(hashlib.blake2b, digest_size=8), encoded))
    return np.fromiter(map(int.from_bytes, digests, repeat("little")), dtype=np.uint64, count=len(texts))


_DIGEST = operator.methodcaller("digest")


def document_hash(lines: List[str]) -> int:
    """64-bit content hash of a cleaned document (dedup identity and train/valid assignment)."""
    return text_hash("\n".join(lines))


def is_validation(doc_hash: int, fraction: float) -> bool:
    """Deterministic held-out assignment from the content hash (independent of order, workers and seed)."""
    if fraction <= 0.0:
        return False
    # A different 64-bit mix than the raw hash so that the dedup table and the split are independent.
    mixed = (doc_hash * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    return mixed < int(fraction * 2**64)


_MIX_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX_INCREMENT = np.uint64(0x632BE59BD9B4E019)


def validation_mask(hashes: np.ndarray, fraction: float) -> np.ndarray:
    """``is_validation`` of many hashes at once (same arithmetic modulo 2**64, in numpy)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if fraction <= 0.0:
        return np.zeros(len(hashes), dtype=bool)
    threshold = int(fraction * 2**64)
    if threshold >= 2**64:
        return np.ones(len(hashes), dtype=bool)
    return hashes * _MIX_MULTIPLIER + _MIX_INCREMENT < np.uint64(threshold)  # uint64 arrays wrap silently


def split_counts(stats: Counter) -> Tuple[dict, dict]:
    """(dropped-by-reason, other counters) views of a stats counter, as plain sorted dicts."""
    dropped = {k: v for k, v in sorted(stats.items()) if k.startswith(("line_", "document_"))}
    other = {k: v for k, v in sorted(stats.items()) if not k.startswith(("line_", "document_"))}
    return dropped, other

