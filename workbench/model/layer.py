"""One transformer layer: post-norm (BERT, RoBERTa, FlauBERT-base) or pre-norm (FlauBERT-large, modern).

Post-norm: ``y = norm(x + drop(attn(x)))``, ``out = norm(y + drop(mlp(y)))``; pre-norm:
``y = x + drop(attn(norm(x)))``, ``out = y + drop(mlp(norm(y)))``. Both residuals go through ``kernels.residual``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from workbench.model.attention import SelfAttention
from workbench.model.config import EncoderConfig
from workbench.model.kernels.choice import Kernels
from workbench.model.mlp import MLP
from workbench.model.padding import Layout
from workbench.model.selection import Selection


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderConfig, kernels: Kernels) -> None:
        super().__init__()
        self.pre_norm = config.norm_position == "pre"
        self.dropout_p = config.dropout
        self.kernels = kernels
        self.attention = SelfAttention(config, kernels)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, layout: Layout) -> torch.Tensor:
        """``x`` ``[B, T, H]`` or ``[N, H]`` (the layout's tokens) -> the same shape."""
        attended = self.attention(self.attention_norm(x) if self.pre_norm else x, layout)
        return self._after_attention(x, attended)

    def forward_selected(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor], selection: Selection) -> torch.Tensor:
        """This layer's outputs ``[M, H]`` at the selected positions of ``x`` ``[B, T, H]``."""
        residual = selection.gather(x)
        attended = self.attention.forward_selected(self.attention_norm(x) if self.pre_norm else x, attn_mask, selection)
        return self._after_attention(residual, attended)

    def _after_attention(self, residual: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        """The attention residual, the feed-forward block and its residual."""
        residual_add = self.kernels.residual
        if self.pre_norm:
            y = residual_add(residual, attended, self.dropout_p, self.training, None)
            return residual_add(y, self.mlp(self.mlp_norm(y)), self.dropout_p, self.training, None)
        y = residual_add(residual, attended, self.dropout_p, self.training, self.attention_norm)
        return residual_add(y, self.mlp(y), self.dropout_p, self.training, self.mlp_norm)
