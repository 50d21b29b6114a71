"""Helpers shared by several test folders."""

from __future__ import annotations

import torch


def randomize_weights(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter (LayerNorms and biases included) non-trivial values so parity tests are sharp
    (default init gives near-uniform MLM probabilities, which would make tests blunt)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.3
            p.copy_(1.0 + 0.2 * noise if name.endswith("norm.weight") else noise)
    return model.eval()
