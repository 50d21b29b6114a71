"""Multi-head self-attention: the q/k/v and output projections around the model's attention kernels.

The batch layout (``workbench.model.padding``) says which kernel runs: padded ``[B, T, H]`` inputs go to
``kernels.attention`` under the layout's padding mask, unpadded ``[N, H]`` ones to ``kernels.unpadded_attention``
(see ``workbench.model.kernels.attention``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig
from workbench.model.kernels.choice import Kernels
from workbench.model.padding import Layout, Unpadded
from workbench.model.selection import Selection


class SelfAttention(nn.Module):
    def __init__(self, config: EncoderConfig, kernels: Kernels) -> None:
        super().__init__()
        self.num_heads = config.num_heads
        self.head_size = config.head_size
        self.dropout_p = config.attention_dropout
        self.kernels = kernels
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)  # rows: query, key, value
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor, layout: Layout) -> torch.Tensor:
        """``x`` ``[B, T, H]`` (padded layout) or ``[N, H]`` (unpadded) -> the same shape."""
        dropout_p = self.dropout_p if self.training else 0.0
        if isinstance(layout, Unpadded):
            qkv = self.qkv(x).view(x.shape[0], 3, self.num_heads, self.head_size)
            return self.out(self.kernels.unpadded_attention(qkv, layout, dropout_p, x.dtype))
        batch, seqlen, hidden = x.shape
        qkv = self.qkv(x).view(batch, seqlen, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, T, head_size]
        context = self.kernels.attention(q, k, v, layout.attn_mask, dropout_p)
        return self.out(context.transpose(1, 2).reshape(batch, seqlen, hidden))

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
        context = self.kernels.attention(q.transpose(1, 2), k, v, attn_mask, dropout_p)
        context = context.transpose(1, 2)[selection.rows, selection.slots]  # [M, heads, head_size]
        return self.out(context.reshape(-1, hidden))
