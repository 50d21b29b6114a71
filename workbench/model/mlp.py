"""Position-wise feed-forward block: dense -> activation -> dense."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from workbench.model.config import EncoderConfig


def activation_fn(name: str):
    """gelu: exact (erf) GELU as in BERT/XLM; gelu_tanh: the tanh approximation (HF ``gelu_new``); relu."""
    if name == "gelu":
        return F.gelu
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    raise ValueError(f"unknown activation {name!r}; choose gelu, gelu_tanh or relu")


class MLP(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = activation_fn(config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))
