"""Text normalization shared by vocabulary training and encoding.

The rules live in one place and are expressed as a `tokenizers` normalizer, so
the exact same transformation is saved inside ``tokenizer.json`` and applied
both to the training sample and to every text encoded later (by workbench or by
``transformers``). ``normalize_text`` runs that same normalizer from Python.

Order of the steps (each optional step is explicit, nothing is implied):

1. remove control and invisible format characters (NUL, C0/C1 controls except
   whitespace, soft hyphen, zero-width space/no-break, BOM);
2. Unicode normalization (NFC or NFKC, or none);
3. typographic apostrophes ’ ʼ -> ' (so l’hôpital and l'hôpital agree);
4. every run of Unicode whitespace (tab, newline, NBSP U+00A0 and narrow NBSP
   U+202F before French punctuation, thin space...) -> one ASCII space, then
   strip both ends;
5. lowercase (accents kept: É -> é);
6. strip accents (NFD, drop combining marks, NFC) -- only when asked.

``normalize_text_fast`` is a pure-Python mirror (C-speed ``re``/``unicodedata``
calls, much faster than running the `tokenizers` normalizer line by line) used
to prepare training samples and, for SentencePiece BPE folders, before
sentencepiece encodes (``workbench.tokenization.sentencepiece_encoder``).
Python's and Rust's Unicode tables differ in version, so the mirror is used
only for lines whose characters all lie in ``FAST_PATH_RANGES`` (checked
identical for every option combination, code point by code point, in the
tests); other lines go through the saved normalizer itself
(``normalize_lines``, ``normalize_line``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import repeat

import numpy as np

from tokenizers import Regex, normalizers

# C0/C1 control characters except the whitespace ones (\t \n \x0b \x0c \r \x85, folded into spaces below),
# plus invisible format characters that only fragment words.
CONTROL_AND_INVISIBLE = "[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]"
APOSTROPHES = "[\u2019\u02bc]"
# Runs of 2+ whitespace characters, or any single whitespace character other than " " (same result as \s+ -> " ",
# but a lone ASCII space, by far the most frequent case, is not rewritten).
WHITESPACE_RUN = r"\s{2,}|[^\S ]"
UNICODE_FORMS = ("NFC", "NFKC", "none")


@dataclass(frozen=True)
class NormalizationSpec:
    unicode_form: str = "NFC"  # NFC | NFKC | none
    apostrophes: bool = True
    lowercase: bool = False
    strip_accents: bool = False

    def __post_init__(self) -> None:
        if self.unicode_form not in UNICODE_FORMS:
            raise ValueError(f"unicode normalization {self.unicode_form!r} is not one of {', '.join(UNICODE_FORMS)}")


def build_normalizer(spec: NormalizationSpec) -> normalizers.Normalizer:
    """The `tokenizers` normalizer implementing ``spec`` (saved inside tokenizer.json)."""
    steps = [normalizers.Replace(Regex(CONTROL_AND_INVISIBLE), "")]
    if spec.unicode_form == "NFC":
        steps.append(normalizers.NFC())
    elif spec.unicode_form == "NFKC":
        steps.append(normalizers.NFKC())
    if spec.apostrophes:
        steps.append(normalizers.Replace(Regex(APOSTROPHES), "'"))
    steps.append(normalizers.Replace(Regex(WHITESPACE_RUN), " "))
    steps.append(normalizers.Strip())
    if spec.lowercase:
        steps.append(normalizers.Lowercase())
    if spec.strip_accents:
        steps.extend([normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC()])
    return normalizers.Sequence(steps)


@lru_cache(maxsize=16)
def _cached(spec: NormalizationSpec) -> normalizers.Normalizer:
    return build_normalizer(spec)


def normalize_text(text: str, spec: NormalizationSpec) -> str:
    """``text`` exactly as the saved tokenizer pipeline normalizes it."""
    return _cached(spec).normalize_str(text)


_CONTROL_RE = re.compile(CONTROL_AND_INVISIBLE)


def remove_control_characters(text: str) -> str:
    """``text`` without the control and invisible characters the normalizer removes (its first step)."""
    return _CONTROL_RE.sub("", text)


def _lowercase(text: str) -> str:
    # `tokenizers` lowercases character by character; Python's str.lower() applies the final-sigma rule
    # (Σ at the end of a word -> ς). Mapping Σ first makes the two agree.
    return text.replace("\u03a3", "\u03c3").lower()


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))


# Code point ranges where the mirror and the saved normalizer agree for every option combination (tested):
# Latin, IPA, combining diacritics, Greek, Cyrillic (before its enclosing marks), Latin Extended Additional,
# Greek Extended, general punctuation (— … ’ NBSP variants), super/subscripts, currency, letterlike,
# number forms, arrows, mathematical operators, box drawing, shapes, miscellaneous symbols, halfwidth and
# fullwidth forms.
FAST_PATH_RANGES = (
    (0x0000, 0x0487),
    (0x1E00, 0x20CF),
    (0x2100, 0x22FF),
    (0x2500, 0x26FF),
    (0xFF00, 0xFFEF),
)
_SLOW_CHARACTER = re.compile("[^" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in FAST_PATH_RANGES) + "]")


def normalize_lines(lines, spec: NormalizationSpec) -> list:
    """Each line exactly as the saved normalizer gives it (fast mirror where it is proven identical).

    ``normalize_text_fast`` applied to many lines at once: each step runs as C-level passes over the lines
    and only touches the lines it changes (most lines of real text need no step but the whitespace one,
    and many not even that). A no-break space becomes a space first: both are starters that never compose
    and both end up in a whitespace run collapsed to one space. Lines with characters outside
    ``FAST_PATH_RANGES`` go through the saved normalizer itself.
    """
    n = len(lines)
    out = list(lines)
    for i in _where(map(str.__contains__, out, repeat(NBSP)), n):
        out[i] = out[i].replace(NBSP, " ")
    # control and invisible format characters are never printable (categories Cc and Cf)
    printable = np.fromiter(map(str.isprintable, out), dtype=bool, count=n)
    for i in np.flatnonzero(~printable).tolist():
        out[i] = remove_control_characters(out[i])
    if spec.unicode_form != "none":
        out = list(map(partial(unicodedata.normalize, spec.unicode_form), out))  # as is when already normalized
    if spec.apostrophes:
        for i in _where(map(_has_apostrophe, out), n):
            out[i] = out[i].replace("\u2019", "'").replace("\u02bc", "'")
    # str.split() then " ".join: on a printable line (no whitespace but " ") without double spaces, the
    # same as stripping its spaces (and str.split() ignores what the strip removes)
    out = list(map(str.strip, out, repeat(" ")))
    unchanged = np.fromiter(map(str.isprintable, out), dtype=bool, count=n)
    unchanged &= ~np.fromiter(map(str.__contains__, out, repeat("  ")), dtype=bool, count=n)
    for i in np.flatnonzero(~unchanged).tolist():
        out[i] = " ".join(out[i].split())
    if spec.lowercase:
        out = list(map(_lowercase, out))
    if spec.strip_accents:
        out = list(map(_strip_accents, out))
    slow = _cached(spec).normalize_str
    for i in _where(map(_SLOW_CHARACTER.search, lines), n):
        out[i] = slow(lines[i])
    return out


NBSP = "\u00a0"


def _has_apostrophe(text: str) -> bool:
    return "\u2019" in text or "\u02bc" in text


def _where(flags, n: int) -> list:
    """Positions where the iterable of n truth values is true."""
    return np.flatnonzero(np.fromiter(map(bool, flags), dtype=bool, count=n)).tolist()


def normalize_line(text: str, spec: NormalizationSpec) -> str:
    """``normalize_lines([text], spec)[0]`` without the per-batch overhead: the mirror where it is proven
    identical, else the saved normalizer."""
    return normalize_text(text, spec) if _SLOW_CHARACTER.search(text) else normalize_text_fast(text, spec)


def normalize_text_fast(text: str, spec: NormalizationSpec) -> str:
    """Same result as ``normalize_text`` (tested), computed with Python's C-level string functions."""
    text = remove_control_characters(text)
    if spec.unicode_form != "none":
        text = unicodedata.normalize(spec.unicode_form, text)
    if spec.apostrophes:
        text = text.replace("\u2019", "'").replace("\u02bc", "'")
    # str.split() splits on exactly the characters re's \s matches (and, like Strip, drops both ends)
    text = " ".join(text.split())
    if spec.lowercase:
        text = _lowercase(text)
    if spec.strip_accents:
        text = _strip_accents(text)
    return text
