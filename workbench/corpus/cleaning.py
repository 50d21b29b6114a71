"""Line cleaning and quality filters (pure functions).

Every line goes through: Unicode normalization, removal of control and
invisible format characters, whitespace collapsing, then the length and
quality filters. A dropped line is counted under its reason; nothing is
dropped silently.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import List, MutableMapping, Optional, Tuple

REPLACEMENT_CHAR = "\ufffd"

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


def document_hash(lines: List[str]) -> int:
    """64-bit content hash of a cleaned document (dedup identity and train/valid assignment)."""
    digest = hashlib.blake2b("\n".join(lines).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def is_validation(doc_hash: int, fraction: float) -> bool:
    """Deterministic held-out assignment from the content hash (independent of order, workers and seed)."""
    if fraction <= 0.0:
        return False
    # A different 64-bit mix than the raw hash so that the dedup table and the split are independent.
    mixed = (doc_hash * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    return mixed < int(fraction * 2**64)


def split_counts(stats: Counter) -> Tuple[dict, dict]:
    """(dropped-by-reason, other counters) views of a stats counter, as plain sorted dicts."""
    dropped = {k: v for k, v in sorted(stats.items()) if k.startswith(("line_", "document_"))}
    other = {k: v for k, v in sorted(stats.items()) if not k.startswith(("line_", "document_"))}
    return dropped, other

