"""Residual kernels: ``norm(residual + dropout(y))`` (post-norm) or ``residual + dropout(y)`` (pre-norm, ``norm=None``).

One function for every residual connection of a layer (its full and its selected-positions forward).
:func:`dropout_add_norm` is the plain composition; a fused dropout + add + LayerNorm kernel (as
flash-attention's ``dropout_add_layer_norm``) would be a variant with the same signature.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from workbench.model.kernels.dropout import torch_dropout

DropoutKernel = Callable[[torch.Tensor, float, bool], torch.Tensor]


def dropout_add_norm(
    residual: torch.Tensor,
    y: torch.Tensor,
    p: float,
    training: bool,
    norm: Optional[Callable[[torch.Tensor], torch.Tensor]],
    dropout: DropoutKernel = torch_dropout,
) -> torch.Tensor:
    out = residual + dropout(y, p, training)
    return out if norm is None else norm(out)
