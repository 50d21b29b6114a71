"""BERT initialization: normal(0, initializer_range) weights, zero biases, LayerNorm ones/zeros."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_module(module: nn.Module, initializer_range: float) -> None:
    """Initialize one module in place (use with ``model.apply``); other module types are left alone."""
    if isinstance(module, nn.Linear):
        module.weight.normal_(mean=0.0, std=initializer_range)
        if module.bias is not None:
            module.bias.zero_()
    elif isinstance(module, nn.Embedding):
        module.weight.normal_(mean=0.0, std=initializer_range)
        if module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        if module.weight is not None:
            module.weight.fill_(1.0)
        if module.bias is not None:
            module.bias.zero_()


def init_weights(model: nn.Module, initializer_range: float) -> None:
    """Initialize every submodule of ``model`` like BERT. Tied weights stay tied (they are the same tensor)."""
    model.apply(lambda module: init_module(module, initializer_range))
    for module in model.modules():
        # biases that belong to a module directly (the MLM decoder bias) start at zero
        reset = getattr(module, "reset_extra_parameters", None)
        if reset is not None:
            reset()
