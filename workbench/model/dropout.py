"""``nn.Dropout`` that runs the dropout kernel of its model (``workbench.model.kernels``).

Parameter-free like ``nn.Dropout``: state dicts are unchanged.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from workbench.model.kernels.choice import Kernels, select_kernels


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout(p)`` calling ``kernels.dropout`` (default: the CPU eager kernels)."""

    def __init__(self, p: float, kernels: Optional[Kernels] = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p
        self.kernels = select_kernels() if kernels is None else kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernels.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, kernels={self.kernels.name}"
