"""One set of kernels per (device type, mode): chosen once, when the model is built, held by its blocks.

=================  ==========================  ===================  ===================
kernel             CPU eager                   CPU compiled         other devices
=================  ==========================  ===================  ===================
attention          SDPA; written out with      SDPA                 SDPA
                   attention dropout
unpadded attention re-padded for the above     re-padded for SDPA   varlen kernel (CUDA, fp16/bf16 input,
                                                                    no dropout), else re-padded for SDPA
dropout            uniform-draw mask           ``F.dropout``        ``F.dropout``
residual           dropout + add (+ norm)      the same             the same
masked-LM loss     written-out cross-entropy   ``F.cross_entropy``  ``F.cross_entropy``
=================  ==========================  ===================  ===================

Two eager-only shortcuts depend on the data, which ``torch.compile`` cannot trace without breaking its graph:
a ``[B, T]`` mask without padding is dropped (the unmasked SDPA kernels are faster: ``skip_full_masks``), and
on CPU the tied word-embedding lookup has a sparse gradient (``sparse_tied_word_gradient``,
``PretrainingModel._sparse_word_gradient``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from torch import nn

from workbench.model.kernels import attention, dropout, mlm_loss, residual

AttentionKernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Optional[torch.Tensor], float], torch.Tensor]
UnpaddedAttentionKernel = Callable[..., torch.Tensor]  # (qkv [N, 3, heads, d], Unpadded, dropout_p, input_dtype)
DropoutKernel = Callable[[torch.Tensor, float, bool], torch.Tensor]
ResidualKernel = Callable[..., torch.Tensor]  # (residual, y, p, training, norm or None)
LossKernel = Callable[[torch.Tensor, torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Kernels:
    name: str  # "cpu-eager", "cpu-compiled", "cuda-eager", ...
    attention: AttentionKernel
    unpadded_attention: UnpaddedAttentionKernel
    dropout: DropoutKernel
    residual: ResidualKernel
    mlm_loss: LossKernel
    skip_full_masks: bool
    sparse_tied_word_gradient: bool


def select_kernels(device_type: str = "cpu", compiled: bool = False) -> Kernels:
    """The kernels for a model that runs on ``device_type`` (``torch.device(...).type``), compiled or eager
    (one object per choice: every model built for it holds the same one)."""
    return _kernels(device_type, bool(compiled))


@functools.lru_cache(maxsize=None)
def _kernels(device_type: str, compiled: bool) -> Kernels:
    if device_type == "cpu" and not compiled:
        return Kernels(
            name="cpu-eager",
            attention=attention.cpu_attention,
            unpadded_attention=functools.partial(attention.repad_attention, attention=attention.cpu_attention),
            dropout=dropout.uniform_dropout,
            residual=functools.partial(residual.dropout_add_norm, dropout=dropout.uniform_dropout),
            mlm_loss=mlm_loss.written_out_loss,
            skip_full_masks=True,
            sparse_tied_word_gradient=True,
        )
    varlen = device_type == "cuda" and attention.varlen_available()
    return Kernels(
        name=f"{device_type}-{'compiled' if compiled else 'eager'}",
        attention=attention.sdpa_attention,
        unpadded_attention=attention.flash_varlen_attention if varlen else attention.repad_attention,
        dropout=dropout.torch_dropout,
        residual=residual.dropout_add_norm,
        mlm_loss=mlm_loss.cross_entropy_loss,
        skip_full_masks=not compiled,
        sparse_tied_word_gradient=False,
    )


def use_kernels(model: nn.Module, kernels: Kernels) -> nn.Module:
    """Give every block of ``model`` (its modules with a ``kernels`` attribute) ``kernels``: for a model built for
    one device and moved to another (``model.to(device)``), or compiled after it was built. Returns ``model``."""
    for module in model.modules():
        if isinstance(getattr(module, "kernels", None), Kernels):
            module.kernels = kernels
    return model
