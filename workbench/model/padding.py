"""Padding-free batches: remove padding tokens before token-wise layers and put them back after.

Same layout as flash-attention's ``unpad_input``/``pad_input`` (and ModernBERT's ``padding.py``):
``indices`` are flat positions (``b * T + t``) of the real tokens, ``cu_seqlens`` the int32 cumulative
sequence lengths ``[0, len_0, len_0 + len_1, ...]`` (``B + 1`` values), ``max_seqlen`` the longest length.
Pure functions of tensors; no module state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class Unpadding:
    """Where the real tokens of a ``[batch, seqlen]`` padded batch are."""

    indices: torch.Tensor  # int64 [N]: flat positions of real tokens
    cu_seqlens: torch.Tensor  # int32 [batch + 1]
    max_seqlen: int
    batch: int
    seqlen: int


def unpadding_of(attention_mask: torch.Tensor) -> Unpadding:
    """Plan for ``attention_mask`` ``[B, T]`` (nonzero = real token). Real tokens need not be contiguous."""
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be [batch, seqlen], got shape {tuple(attention_mask.shape)}")
    keep = attention_mask.bool()
    seqlens = keep.sum(dim=1, dtype=torch.int32)
    indices = torch.nonzero(keep.flatten(), as_tuple=False).flatten()
    cu_seqlens = F.pad(torch.cumsum(seqlens, dim=0, dtype=torch.int32), (1, 0))
    max_seqlen = int(seqlens.max().item()) if seqlens.numel() else 0
    batch, seqlen = keep.shape
    return Unpadding(indices, cu_seqlens, max_seqlen, batch, seqlen)


def unpad_input(
    hidden: torch.Tensor, attention_mask: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``hidden`` ``[B, T, ...]`` -> (``[N, ...]`` real tokens, indices, cu_seqlens, max_seqlen)."""
    plan = unpadding_of(attention_mask)
    if hidden.shape[:2] != attention_mask.shape:
        raise ValueError(
            f"hidden {tuple(hidden.shape)} and attention_mask {tuple(attention_mask.shape)} disagree on [batch, seqlen]"
        )
    return gather_tokens(hidden, plan.indices), plan.indices, plan.cu_seqlens, plan.max_seqlen


def gather_tokens(padded: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """``[B, T, ...]`` -> ``[N, ...]`` at the flat ``indices``."""
    return padded.reshape(-1, *padded.shape[2:])[indices]


def pad_input(unpadded: torch.Tensor, indices: torch.Tensor, batch: int, seqlen: int) -> torch.Tensor:
    """``[N, ...]`` -> ``[batch, seqlen, ...]`` with zeros at padding positions (differentiable)."""
    out = unpadded.new_zeros(batch * seqlen, *unpadded.shape[1:])
    out = out.index_copy(0, indices, unpadded)
    return out.view(batch, seqlen, *unpadded.shape[1:])
