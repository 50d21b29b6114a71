"""One transformer layer: post-norm (BERT, RoBERTa, FlauBERT-base) or pre-norm (FlauBERT-large, modern)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from workbench.model.attention import SelfAttention
from workbench.model.config import EncoderConfig
from workbench.model.dropout import Dropout
from workbench.model.mlp import MLP
from workbench.model.padding import Unpadding
from workbench.model.selection import Selection


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, unpadding: Optional[Unpadding] = None
    ) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.dropout(self.attention(self.attention_norm(x), attn_mask, unpadding))
            return x + self.dropout(self.mlp(self.mlp_norm(x)))
        x = self.attention_norm(x + self.dropout(self.attention(x, attn_mask, unpadding)))
        return self.mlp_norm(x + self.dropout(self.mlp(x)))

    def forward_selected(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor], selection: Selection) -> torch.Tensor:
        """This layer's outputs ``[M, H]`` at the selected positions of ``x`` ``[B, T, H]``."""
        if self.pre_norm:
            normed = self.attention_norm(x)
            y = selection.gather(x) + self.dropout(self.attention.forward_selected(normed, attn_mask, selection))
            return y + self.dropout(self.mlp(self.mlp_norm(y)))
        y = self.attention_norm(selection.gather(x) + self.dropout(self.attention.forward_selected(x, attn_mask, selection)))
        return self.mlp_norm(y + self.dropout(self.mlp(y)))
