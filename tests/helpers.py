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


FLOAT32_EPS = torch.finfo(torch.float32).eps  # 1.19e-7: the spacing of float32 numbers just above 1


def assert_close_scaled(actual, expected, rtol: float, what: str = "values") -> float:
    """Assert ``max|actual - expected| <= rtol * max|expected|`` and return that relative difference.

    Two float32 computations of the same function (another library, another kernel, the vectorised or
    the scalar ATen path, another summation order) differ by rounding errors proportional to the size of
    the terms they add up, which is the scale of the whole tensor, not the size of each result: a logit of
    0.2 computed from activations and logits of about 50 carries errors of several ulp(50) = 3.8e-6.
    An absolute ``atol`` (or ``torch.testing.assert_close``'s elementwise ``atol + rtol * |expected|``)
    therefore fails on the small entries of a large-scale tensor, and passes or fails with the CPU's
    kernels. Comparing against the scale does not: ``rtol`` is a number of float32 epsilons (about 8.4e6
    per unit) that states how many roundings the two computations may differ by.
    Works on torch tensors and numpy arrays (compared in float64)."""
    a = torch.as_tensor(actual).detach().double()
    b = torch.as_tensor(expected).detach().double()
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != expected {tuple(b.shape)}"
    scale = b.abs().max().item() if b.numel() else 0.0
    difference = (a - b).abs().max().item() if b.numel() else 0.0
    relative = difference / scale if scale > 0 else difference
    assert relative <= rtol, (
        f"{what}: max |difference| {difference:.3g} is {relative:.3g} of the values' scale {scale:.3g}, "
        f"above rtol={rtol:.3g} ({relative / FLOAT32_EPS:.0f} float32 eps)"
    )
    return relative

