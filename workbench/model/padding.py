"""How a batch is laid out: padded (``[B, T, ...]`` with a padding mask) or unpadded (the real tokens ``[N, ...]``).

:func:`batch_layout` turns an attention mask into one value, :class:`Padded` or :class:`Unpadded`, that the
encoder passes to its layers; only attention reads it (token-wise layers do not care which layout they run on).
The unpadded layout is flash-attention's ``unpad_input``/``pad_input`` one (and ModernBERT's ``padding.py``):
``indices`` are flat positions (``b * T + t``) of the real tokens, ``cu_seqlens`` the int32 cumulative
sequence lengths ``[0, len_0, len_0 + len_1, ...]`` (``B + 1`` values), ``max_seqlen`` the longest length.
Pure functions of tensors; no module state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
from torch.nn import functional as F


def padding_mask_for_sdpa(attention_mask: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``[B, T]`` keep-mask (bool, int or float 1/0) -> bool ``[B, 1, 1, T]`` (True = attend).

    A 4-D tensor is passed through unchanged: a bool mask (True = attend) or an additive float bias.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:
        return attention_mask
    if attention_mask.dim() != 2:
        raise ValueError(
            f"attention_mask must be [batch, seqlen] or [batch, 1|heads, seqlen, seqlen], got {tuple(attention_mask.shape)}"
        )
    return attention_mask.bool()[:, None, None, :]


@dataclass(frozen=True)
class Padded:
    """Every position of ``[B, T]`` is computed; ``attn_mask`` (SDPA form, None: attend everywhere) hides padding."""

    attn_mask: Optional[torch.Tensor]

    def tokens(self, t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """Per-position inputs ``[B, T, ...]`` as the layers see them: unchanged."""
        return t

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """Layer outputs as ``[B, T, ...]``: unchanged."""
        return x


@dataclass(frozen=True)
class Unpadded:
    """Where the real tokens of a ``[batch, seqlen]`` padded batch are; layers run on those ``N`` tokens only.
    ``attn_mask``: the padded batch's SDPA mask, for attention kernels that re-pad."""

    indices: torch.Tensor  # int64 [N]: flat positions of real tokens
    cu_seqlens: torch.Tensor  # int32 [batch + 1]
    max_seqlen: int
    batch: int
    seqlen: int
    attn_mask: Optional[torch.Tensor] = None

    def tokens(self, t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """``[B, T, ...]`` -> ``[N, ...]`` (None stays None)."""
        return None if t is None else gather_tokens(t, self.indices)

    def padded(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, ...]`` -> ``[B, T, ...]`` with zeros at padding positions."""
        return pad_input(x, self.indices, self.batch, self.seqlen)


Layout = Union[Padded, Unpadded]


def batch_layout(attention_mask: Optional[torch.Tensor], padding_free: bool, skip_full_mask: bool) -> Layout:
    """The layout of a batch with ``attention_mask`` (``[B, T]`` keep-mask, a 4-D SDPA mask/bias, or None).

    ``skip_full_mask``: a ``[B, T]`` mask without padding is dropped (the unmasked SDPA kernels are faster; reading
    the mask's values breaks a ``torch.compile`` graph, hence a choice of the kernels). ``padding_free``: a ``[B, T]``
    mask with padding gives :class:`Unpadded`; everything else is :class:`Padded`.
    """
    if attention_mask is not None and attention_mask.dim() == 2 and skip_full_mask:
        if bool(attention_mask.bool().all()):
            attention_mask = None
    attn_mask = padding_mask_for_sdpa(attention_mask)
    if padding_free and attention_mask is not None and attention_mask.dim() == 2:
        return unpadding_of(attention_mask, attn_mask)
    return Padded(attn_mask)


def unpadding_of(attention_mask: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> Unpadded:
    """Unpadded layout for ``attention_mask`` ``[B, T]`` (nonzero = real token; real tokens need not be contiguous);
    ``attn_mask``: its SDPA form (default: :func:`padding_mask_for_sdpa` of it)."""
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be [batch, seqlen], got shape {tuple(attention_mask.shape)}")
    keep = attention_mask.bool()
    seqlens = keep.sum(dim=1, dtype=torch.int32)
    indices = torch.nonzero(keep.flatten(), as_tuple=False).flatten()
    cu_seqlens = F.pad(torch.cumsum(seqlens, dim=0, dtype=torch.int32), (1, 0))
    max_seqlen = int(seqlens.max().item()) if seqlens.numel() else 0
    batch, seqlen = keep.shape
    if attn_mask is None:
        attn_mask = padding_mask_for_sdpa(attention_mask)
    return Unpadded(indices, cu_seqlens, max_seqlen, batch, seqlen, attn_mask)


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
