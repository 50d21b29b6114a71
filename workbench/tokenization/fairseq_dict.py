"""fairseq ``dict.txt`` for vocabularies of the roberta family.

fairseq's ``Dictionary`` puts <s> <pad> </s> <unk> at 0..3, then the symbols of
``dict.txt`` in file order, and the masked_lm task appends <mask>: so writing
the learned pieces in id order gives fairseq exactly workbench's ids. Each line
is ``<piece> <count>``, the count being the piece's occurrences in the training
sample (segmented by SentencePiece itself for SentencePiece models, by the
saved pipeline otherwise; fairseq only uses counts for thresholding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer as HFTokenizer

from workbench.artifacts.atomic import write_text
from workbench.tokenization.families import Family

DICT_FILE = "dict.txt"
_CHUNK = 10_000


def token_counts(backend: HFTokenizer, lines: Sequence[str]) -> np.ndarray:
    """Occurrences of each id in the encoded ``lines`` (no special tokens added)."""
    size = backend.get_vocab_size(with_added_tokens=True)
    counts = np.zeros(size, dtype=np.int64)
    for start in range(0, len(lines), _CHUNK):
        encodings = backend.encode_batch(list(lines[start : start + _CHUNK]), add_special_tokens=False)
        flat = [token_id for encoding in encodings for token_id in encoding.ids]
        if flat:
            counts += np.bincount(np.asarray(flat, dtype=np.int64), minlength=size)
    return counts


def write_dict_rows(directory: Path, tokens: Sequence[str], counts: np.ndarray, family: Family) -> str:
    """``tokens``: the whole vocabulary in id order; ``counts``: occurrences per id."""
    if family.name != "roberta":
        raise ValueError("dict.txt matches workbench ids only for the roberta family (fairseq's dictionary order)")
    first, last = len(family.leading), len(tokens) - len(family.trailing)
    learned = list(tokens[first:last])
    for offset, token in enumerate(learned):
        if token.split() != [token]:  # empty, or holds whitespace: fairseq splits each line on its last space
            raise ValueError(f"token {token!r} (id {first + offset}) cannot be written to a fairseq dict.txt")
    rows = map("{} {}\n".format, learned, np.asarray(counts[first:last], dtype=np.int64).tolist())
    write_text(directory / DICT_FILE, "".join(rows))
    return DICT_FILE


def write_fairseq_dict(directory: Path, backend: HFTokenizer, family: Family, lines: Sequence[str]) -> str:
    """dict.txt with counts from encoding ``lines`` with the backend."""
    tokens = [backend.id_to_token(i) for i in range(backend.get_vocab_size(with_added_tokens=True))]
    return write_dict_rows(directory, tokens, token_counts(backend, lines), family)
