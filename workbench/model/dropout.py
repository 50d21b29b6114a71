"""Dropout with a cheaper mask on CPU.

``torch.nn.functional.dropout`` on CPU draws its mask with ``bernoulli_``, several times slower than a
uniform draw. Here each element is kept when ``u >= p`` for ``u ~ U[0, 1)`` (float32, 24 random bits, the
same resolution as torch's Bernoulli draw) and scaled by ``1 / (1 - p)``: the same distribution, the same
expectation, another random stream. Other devices (and ``torch.compile``, which fuses dropout itself) use
``F.dropout``. Parameter-free like ``nn.Dropout``: state dicts are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0 or torch.compiler.is_compiling():
        return F.dropout(x, p, True)
    # one float32 buffer: uniform draw -> 1.0/0.0 keep mask -> scaled mask (the tensor autograd saves)
    noise = torch.rand(x.shape, dtype=torch.float32, device=x.device).ge_(p).mul_(1.0 / (1.0 - p))
    return x * noise.to(x.dtype)


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout(p)`` using :func:`dropout`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
