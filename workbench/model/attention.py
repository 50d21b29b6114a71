"""Multi-head self-attention through ``scaled_dot_product_attention``.

Two layouts: padded ``[B, T, H]`` with a padding mask, or unpadded ``[N, H]`` with an ``Unpadding`` plan
(padding-free path). The unpadded path uses torch's flash varlen kernel where it exists (CUDA, fp16/bf16,
no attention dropout); elsewhere it re-pads q/k/v for SDPA, so token-wise layers still skip padding.
On CPU with attention dropout (training), where SDPA has no fused kernel, the same math is written out
(:func:`composite_attention`: fewer passes, a cheaper dropout mask).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.dropout import dropout
from workbench.model.padding import Unpadding, pad_input
from workbench.model.selection import Selection

try:  # torch >= 2.9
    from torch.nn.attention.varlen import varlen_attn as _varlen_attn
except ImportError:  # pragma: no cover - older torch
    _varlen_attn = None


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


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor], dropout_p: float
) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + mask) v`` for ``[B, heads, T, d]`` tensors, through SDPA.

    Exception: on CPU with attention dropout (training), SDPA itself falls back to its composite math
    path, with ``bernoulli_`` masks and two extra scalings; :func:`composite_attention` computes the same
    thing for less.
    """
    if dropout_p == 0.0 or q.device.type != "cpu" or torch.compiler.is_compiling():
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    return composite_attention(q, k, v, attn_mask, dropout_p)


def composite_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor], dropout_p: float
) -> torch.Tensor:
    """SDPA's math written out: one scaling (of the queries), the uniform-draw dropout of ``workbench.model.dropout``.

    ``attn_mask``: bool (True = attend) or additive float, broadcastable to the scores ``[B, heads, Tq, Tk]``.
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
    probs = dropout(torch.softmax(scores, dim=-1), dropout_p, True)
    return torch.matmul(probs, v)


def varlen_kernel_usable(x: torch.Tensor, dropout_p: float) -> bool:
    return _varlen_attn is not None and x.is_cuda and x.dtype in (torch.float16, torch.bfloat16) and dropout_p == 0.0


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.head_size
        self.dropout_p = config.attention_dropout
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)  # rows: query, key, value
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        x: torch.Tensor,
        attn_mask: Optional[torch.Tensor] = None,
        unpadding: Optional[Unpadding] = None,
    ) -> torch.Tensor:
        dropout_p = self.dropout_p if self.training else 0.0
        if unpadding is not None:
            return self.out(self._unpadded(x, attn_mask, unpadding, dropout_p))
        batch, seqlen, hidden = x.shape
        qkv = self.qkv(x).view(batch, seqlen, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, T, head_size]
        context = attention(q, k, v, attn_mask, dropout_p)
        return self.out(context.transpose(1, 2).reshape(batch, seqlen, hidden))

    def _unpadded(
        self, x: torch.Tensor, attn_mask: Optional[torch.Tensor], plan: Unpadding, dropout_p: float
    ) -> torch.Tensor:
        tokens, hidden = x.shape
        qkv = self.qkv(x).view(tokens, 3, self.num_heads, self.head_size)
        if varlen_kernel_usable(x, dropout_p):
            q, k, v = qkv.unbind(1)  # [N, heads, head_size]
            context = _varlen_attn(q, k, v, plan.cu_seqlens, plan.cu_seqlens, plan.max_seqlen, plan.max_seqlen)
            return context.reshape(tokens, hidden)
        padded = pad_input(qkv, plan.indices, plan.batch, plan.seqlen)  # [B, T, 3, heads, head_size]
        q, k, v = padded.permute(2, 0, 3, 1, 4).unbind(0)
        context = attention(q, k, v, attn_mask, dropout_p)
        context = context.transpose(1, 2).reshape(plan.batch * plan.seqlen, hidden)
        return context[plan.indices]

    def forward_selected(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor], selection: Selection) -> torch.Tensor:
        """Attention outputs ``[M, H]`` at the selected positions only; keys/values from all of ``x`` ``[B, T, H]``."""
        batch, seqlen, hidden = x.shape
        dropout_p = self.dropout_p if self.training else 0.0
        weight, bias = self.qkv.weight, self.qkv.bias
        kv = F.linear(x, weight[hidden:], bias[hidden:]).view(batch, seqlen, 2, self.num_heads, self.head_size)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, heads, T, head_size]
        q_selected = F.linear(selection.gather(x), weight[:hidden], bias[:hidden])
        q_selected = q_selected.view(-1, self.num_heads, self.head_size)
        q = q_selected.new_zeros(batch, selection.max_per_row, self.num_heads, self.head_size)
        q = q.index_put((selection.rows, selection.slots), q_selected)  # rows padded with unused zero queries
        context = attention(q.transpose(1, 2), k, v, attn_mask, dropout_p)
        context = context.transpose(1, 2)[selection.rows, selection.slots]  # [M, heads, head_size]
        return self.out(context.reshape(-1, hidden))
