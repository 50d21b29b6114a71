"""Attention kernels.

Padded: ``(q, k, v, attn_mask, dropout_p) -> context`` for ``[B, heads, T, d]`` tensors, ``attn_mask`` bool
(True = attend) or an additive float bias broadcastable to ``[B, heads, Tq, Tk]``, or None.
:func:`sdpa_attention` is the reference (``scaled_dot_product_attention``). On CPU with attention dropout
(training), SDPA has no fused kernel and falls back to its composite math path (``bernoulli_`` masks, two
extra scalings): :func:`composite_attention` computes the same thing for less, and :func:`cpu_attention`
takes it exactly then.

Unpadded: ``(qkv, layout, dropout_p, input_dtype) -> context`` with ``qkv`` ``[N, 3, heads, d]`` (the real
tokens of an :class:`~workbench.model.padding.Unpadded` batch), ``input_dtype`` the dtype of the layer's input,
and context ``[N, heads * d]``. :func:`repad_attention` is the reference: q/k/v re-padded for a padded kernel,
the real tokens gathered back. :func:`flash_varlen_attention` uses torch's varlen kernel where it runs (CUDA,
an fp16/bf16 layer input, no attention dropout; under autocast the input is float32: the reference runs) and
the reference elsewhere.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch.nn import functional as F

from workbench.model.kernels.dropout import uniform_dropout
from workbench.model.padding import Unpadded, pad_input

try:  # torch >= 2.9
    from torch.nn.attention.varlen import varlen_attn as _varlen_attn
except ImportError:  # pragma: no cover - older torch
    _varlen_attn = None

PaddedAttention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor], float], torch.Tensor]


def sdpa_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor], dropout_p: float
) -> torch.Tensor:
    """Reference: ``softmax(q k^T / sqrt(d) + mask) v`` through ``scaled_dot_product_attention``."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)


def composite_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor], dropout_p: float
) -> torch.Tensor:
    """SDPA's math written out: one scaling (of the queries), the uniform-draw dropout of
    :func:`~workbench.model.kernels.dropout.uniform_dropout`.

    Masked scores get the dtype's lowest finite value instead of ``-inf``: the same probabilities (exactly 0
    after the softmax), and a fully masked row (an all-padding sequence) stays finite, like SDPA's.
    """
    # the scale goes on q: the product needs a contiguous copy of the strided q anyway, and q ([T, d]) is
    # smaller than the scores ([T, T]) when T > d; exact for power-of-two head sizes (1/8 for d = 64)
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
    if attn_mask is not None:
        lowest = torch.finfo(scores.dtype).min
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill_(~attn_mask, lowest)
        else:
            scores = scores.add_(attn_mask).clamp_(min=lowest)
    probs = uniform_dropout(torch.softmax(scores, dim=-1), dropout_p, True)
    return torch.matmul(probs, v)


def cpu_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor], dropout_p: float
) -> torch.Tensor:
    """CPU eager: SDPA without attention dropout (fused there), :func:`composite_attention` with it."""
    if dropout_p == 0.0:
        return sdpa_attention(q, k, v, attn_mask, dropout_p)
    return composite_attention(q, k, v, attn_mask, dropout_p)


def repad_attention(
    qkv: torch.Tensor,
    layout: Unpadded,
    dropout_p: float,
    input_dtype: Optional[torch.dtype] = None,
    attention: PaddedAttention = sdpa_attention,
) -> torch.Tensor:
    """Reference: ``qkv`` ``[N, 3, heads, d]`` re-padded to ``[B, T, ...]``, attended with ``attention`` under the
    layout's padding mask, the real tokens' context ``[N, heads * d]`` gathered back."""
    tokens, _, heads, head_size = qkv.shape
    padded = pad_input(qkv, layout.indices, layout.batch, layout.seqlen)  # [B, T, 3, heads, head_size]
    q, k, v = padded.permute(2, 0, 3, 1, 4).unbind(0)
    context = attention(q, k, v, layout.attn_mask, dropout_p)
    context = context.transpose(1, 2).reshape(layout.batch * layout.seqlen, heads * head_size)
    return context[layout.indices]


def varlen_usable(qkv: torch.Tensor, dropout_p: float, input_dtype: torch.dtype) -> bool:
    """Whether torch's varlen kernel runs: it exists (torch >= 2.9), CUDA, an fp16/bf16 layer input, no dropout."""
    return _varlen_attn is not None and qkv.is_cuda and input_dtype in (torch.float16, torch.bfloat16) and dropout_p == 0.0


def flash_varlen_attention(
    qkv: torch.Tensor,
    layout: Unpadded,
    dropout_p: float,
    input_dtype: Optional[torch.dtype] = None,
    attention: PaddedAttention = sdpa_attention,
) -> torch.Tensor:
    """torch's varlen (flash) kernel on the real tokens where it runs (:func:`varlen_usable`: the input's dtype
    and the dropout are known per call); :func:`repad_attention` with ``attention`` elsewhere."""
    if not varlen_usable(qkv, dropout_p, qkv.dtype if input_dtype is None else input_dtype):
        return repad_attention(qkv, layout, dropout_p, input_dtype, attention)
    tokens, _, heads, head_size = qkv.shape
    q, k, v = qkv.unbind(1)  # [N, heads, head_size]
    context = _varlen_attn(q, k, v, layout.cu_seqlens, layout.cu_seqlens, layout.max_seqlen, layout.max_seqlen)
    return context.reshape(tokens, heads * head_size)


def varlen_available() -> bool:
    return _varlen_attn is not None
