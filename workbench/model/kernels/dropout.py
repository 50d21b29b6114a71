"""Dropout kernels: ``(x, p, training) -> x`` with kept elements scaled by ``1 / (1 - p)``.

:func:`torch_dropout` is the reference (``F.dropout``: fused under ``torch.compile`` and on GPUs).
:func:`uniform_dropout` is the CPU eager variant: ``F.dropout`` on CPU draws its mask with ``bernoulli_``,
several times slower than a uniform draw. Here each element is kept when ``u >= p`` for ``u ~ U[0, 1)``
(float32, 24 random bits, the same resolution as torch's Bernoulli draw) and scaled by ``1 / (1 - p)``:
the same distribution, the same expectation, another random stream.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def torch_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Reference: ``F.dropout``; ``x`` itself when nothing is dropped."""
    if not training or p == 0.0:
        return x
    return F.dropout(x, p, True)


def uniform_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Uniform-draw mask (CPU eager); ``p >= 1`` goes to :func:`torch_dropout` (all zeros)."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return F.dropout(x, p, True)
    # one float32 buffer: uniform draw -> 1.0/0.0 keep mask -> scaled mask (the tensor autograd saves)
    noise = torch.rand(x.shape, dtype=torch.float32, device=x.device).ge_(p).mul_(1.0 / (1.0 - p))
    return x * noise.to(x.dtype)
