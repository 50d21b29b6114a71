"""The parity tests' tolerance: a difference is judged against the scale of the compared values.

Two float32 computations of the same sums in another order (what another library, another CPU or
PyTorch's scalar kernels under ATEN_CPU_CAPABILITY=default do) differ by a few roundings of the largest
terms. The sums below are computed with numpy float32 scalars in two fixed orders, so the figures are
the same on every CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import FLOAT32_EPS, assert_close_scaled

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default


def _two_summation_orders():
    """Dot products of float32 rows with one weight vector, summed forwards and backwards; the results
    reach ~90 and the last row cancels to ~0.01 from terms of ~50 (like a small logit beside large ones)."""
    rng = np.random.default_rng(1)
    h = (rng.standard_normal((8, 64)) * 6).astype(np.float32)
    h[-1] *= 4
    w = rng.standard_normal(64).astype(np.float32)
    h[-1, -1] = np.float32(-(h[-1, :-1].astype(np.float64) @ w[:-1] - 0.01) / w[-1])

    def dot(order):
        sums = []
        for row in h:
            total = np.float32(0)
            for i in order:
                total = np.float32(total + np.float32(row[i] * w[i]))
            sums.append(total)
        return torch.tensor(np.array(sums, dtype=np.float32))

    return dot(range(64)), dot(range(63, -1, -1))


def test_rounding_noise_on_a_small_entry_passes_relative_to_the_scale():
    forwards, backwards = _two_summation_orders()
    assert 80 < backwards.abs().max() < 100 and abs(backwards[-1]) < 0.011
    # the old elementwise check (atol=1e-5 plus rtol=1e-5 of each entry) fails on the cancelling entry:
    # 2.7e-5 apart, from the same float32 terms, only summed in another order
    with pytest.raises(AssertionError, match="Mismatched elements: 1 / 8"):
        torch.testing.assert_close(forwards, backwards, atol=1e-5, rtol=1e-5)
    relative = assert_close_scaled(forwards, backwards, rtol=1e-6, what="logits")
    assert 2 * FLOAT32_EPS < relative < 3 * FLOAT32_EPS  # two or three roundings of the largest value


def test_scaled_verdict_does_not_depend_on_units():
    forwards, backwards = _two_summation_orders()
    # exact in float64 (powers of two): the same numbers in other units get the same verdict
    for factor in (2.0**-10, 1.0, 2.0**10):
        assert_close_scaled(forwards.double() * factor, backwards.double() * factor, rtol=1e-6)


def test_a_real_difference_fails_with_its_figures():
    _, backwards = _two_summation_orders()
    wrong = backwards.clone()
    wrong[-1] += 1e-3 * backwards.abs().max()  # an error far above rounding: 1e-3 of the scale
    with pytest.raises(AssertionError, match=r"logits: max \|difference\| 0\.0\d+ is 0\.001 of the values' scale 8\d\.\d, above rtol=1e-05"):
        assert_close_scaled(wrong, backwards, rtol=1e-5, what="logits")
    with pytest.raises(AssertionError, match=r"shape \(8,\) != expected \(7,\)"):
        assert_close_scaled(wrong, backwards[:7], rtol=1e-5, what="logits")
