"""Vocabulary extension of a pretraining state dict: new rows initialised as the mean of their pieces' rows.

A word added to the vocabulary (``workbench.tokenization.extend``) was, under the old tokenizer, a sequence of
pieces; its input embedding, its MLM output bias and (when not tied to the embeddings) its decoder row start as
the mean of those pieces' rows, so that the extended model's first guess for the word is its pieces' average
(Hewitt 2021, "Initializing new word embeddings for pretrained language models").
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import torch

WORD_EMBEDDINGS = "encoder.embeddings.word_embeddings.weight"
DECODER = "mlm_head.decoder.weight"
BIAS = "mlm_head.bias"


def _grown(rows: torch.Tensor, start: int, pieces: Sequence[Sequence[int]], total: int) -> torch.Tensor:
    """``rows`` (``[V, ...]``) grown to ``total`` rows; row ``start + i`` is the mean of rows ``pieces[i]``."""
    out = torch.zeros((total, *rows.shape[1:]), dtype=rows.dtype)
    kept = min(rows.shape[0], total)
    out[:kept] = rows[:kept]
    for index, ids in enumerate(pieces):
        if not ids:
            raise ValueError(f"new token {start + index} has no pieces to initialise it from")
        out[start + index] = rows[torch.as_tensor(list(ids), dtype=torch.long)].double().mean(dim=0).to(rows.dtype)
    return out


def extend_embeddings(state: Mapping[str, torch.Tensor], start: int, pieces: Sequence[Sequence[int]],
                      tie: bool) -> Tuple[Dict[str, torch.Tensor], int]:
    """(new state dict, rows): the vocabulary tensors grown so that ids ``start .. start + len(pieces) - 1`` exist,
    each initialised from the old rows of its pieces (ids ``< start``). Other tensors are unchanged."""
    if any(i >= start or i < 0 for ids in pieces for i in ids):
        raise ValueError(f"pieces must be ids of the old vocabulary (< {start})")
    old = state[WORD_EMBEDDINGS]
    total = max(old.shape[0], start + len(pieces))
    out: Dict[str, torch.Tensor] = dict(state)
    out[WORD_EMBEDDINGS] = _grown(old, start, pieces, total)
    if BIAS in state:
        out[BIAS] = _grown(state[BIAS], start, pieces, total)
    if DECODER in state:
        out[DECODER] = out[WORD_EMBEDDINGS] if tie else _grown(state[DECODER], start, pieces, total)
    return out, total
