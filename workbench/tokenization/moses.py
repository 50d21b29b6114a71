"""FlauBERT's text preprocessing: Moses punctuation normalization and tokenization for French.

This is, step for step, what ``transformers.FlaubertTokenizer._tokenize`` does
before BPE (``preprocess_text`` then ``moses_pipeline`` then
``moses_tokenize``), so a Moses+BPE vocabulary trained here and loaded by
transformers' FlaubertTokenizer splits text identically. FlaubertTokenizer
always uses the French Moses rules.
"""

from __future__ import annotations

import re
import unicodedata
from typing import List

from sacremoses import MosesPunctNormalizer, MosesTokenizer

LANGUAGE = "fr"

_UNICODE_PUNCT = (
    ("，", ","), ("、", ","), ("”", '"'), ("“", '"'), ("∶", ":"), ("：", ":"), ("？", "?"), ("《", '"'),
    ("》", '"'), ("）", ")"), ("！", "!"), ("（", "("), ("；", ";"), ("１", "1"), ("」", '"'), ("「", '"'),
    ("０", "0"), ("３", "3"), ("２", "2"), ("５", "5"), ("６", "6"), ("９", "9"), ("７", "7"), ("８", "8"),
    ("４", "4"),
)  # fmt: skip
_UNICODE_PUNCT_AFTER = (
    ("～", "~"), ("’", "'"), ("…", "..."), ("━", "-"), ("〈", "<"), ("〉", ">"), ("【", "["), ("】", "]"), ("％", "%"),
)  # fmt: skip
_IDEOGRAPHIC_STOP = re.compile(r"。\s*")
_FULLWIDTH_STOP = re.compile(r"．\s*")


def replace_unicode_punct(text: str) -> str:
    """Moses' replace-unicode-punctuation.perl, in the order FlaubertTokenizer applies it."""
    text = text.replace("，", ",")
    text = _IDEOGRAPHIC_STOP.sub(". ", text)
    for source, target in _UNICODE_PUNCT[1:]:
        text = text.replace(source, target)
    text = _FULLWIDTH_STOP.sub(". ", text)
    for source, target in _UNICODE_PUNCT_AFTER:
        text = text.replace(source, target)
    return text


def remove_non_printing_char(text: str) -> str:
    """Drop every character of Unicode category C* (controls, format, private use, unassigned)."""
    return "".join(char for char in text if not unicodedata.category(char).startswith("C"))


class MosesPreTokenizer:
    """Text -> Moses tokens, exactly as FlaubertTokenizer produces them before BPE."""

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase
        self._punct = MosesPunctNormalizer(lang=LANGUAGE)
        self._tokenizer = MosesTokenizer(lang=LANGUAGE)

    def preprocess(self, text: str) -> str:
        text = text.replace("``", '"').replace("''", '"')
        text = unicodedata.normalize("NFC", text)
        if self.lowercase:
            text = text.lower()
        text = replace_unicode_punct(text)
        text = self._punct.normalize(text)
        return remove_non_printing_char(text)

    def __call__(self, text: str) -> List[str]:
        tokens = self._tokenizer.tokenize(self.preprocess(text), return_str=False, escape=False)
        return [token for token in tokens if token]
