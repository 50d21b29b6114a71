"""Texts in, padded id batches out; reading one-text-per-line input files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import torch

from workbench.tokenization.tokenizer import Tokenizer


@dataclass(frozen=True)
class Text:
    id: str  # 1-based line number for a file, "text" / "text-<i>" otherwise
    text: str
    where: str  # for error messages: "fill_mask.text" or "<file>:<line>"


@dataclass
class Batch:
    ids: torch.Tensor  # [B, T] int64, padded with the tokenizer's pad id
    mask: torch.Tensor  # [B, T] int64, 1 = real token
    types: torch.Tensor  # [B, T] int64 token types (all 0 for single texts)


def read_texts(path: str, key: str, error_type: type) -> List[Text]:
    """Non-blank lines of a UTF-8 file, with their 1-based line numbers as ids."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise error_type(f"{key}={path}: the file does not exist")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise error_type(f"{key}={path}: not UTF-8 text ({error}); convert it to UTF-8, one text per line") from None
    texts = [Text(str(n), line.strip(), f"{file}:{n}") for n, line in enumerate(lines, start=1) if line.strip()]
    if not texts:
        raise error_type(f"{key}={path}: the file has no text (one text per line expected)")
    return texts


def with_specials(tokenizer: Tokenizer, ids: Sequence[int]) -> Tuple[List[int], List[int]]:
    return tokenizer.build_inputs(list(ids))


def pad_batch(sequences: Sequence[Tuple[List[int], List[int]]], pad_id: int) -> Batch:
    """``(ids, types)`` pairs -> right-padded ``[B, T]`` tensors."""
    length = max(len(ids) for ids, _ in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    types = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, (seq, seq_types) in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
        types[row, : len(seq)] = torch.tensor(seq_types, dtype=torch.long)
    return Batch(ids, mask, types)
