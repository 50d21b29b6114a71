"""Confidence intervals over seeds: Student's t interval of one mean, Welch's interval of a difference of means.

Both take summary statistics (mean, sample standard deviation, number of seeds). With one seed on a side there
is no spread to estimate and no interval (None). The t quantile is scipy's ``stats.t.ppf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

LEVEL = 0.95


def t_quantile(probability: float, df: float) -> float:
    """The Student-t inverse CDF at ``probability`` with ``df`` (possibly fractional) degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(probability, df))


def mean_interval(mean: float, std: float, n: int, level: float = LEVEL) -> Optional[Tuple[float, float]]:
    """Student's t interval of a mean over ``n`` seeds; None for a single seed."""
    if n < 2:
        return None
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


@dataclass(frozen=True)
class Difference:
    """``mean_a - mean_b`` with Welch's interval (None when either side has a single seed)."""

    value: float
    interval: Optional[Tuple[float, float]]
    df: Optional[float]  # Welch-Satterthwaite degrees of freedom

    @property
    def contains_zero(self) -> Optional[bool]:
        if self.interval is None:
            return None
        return self.interval[0] <= 0.0 <= self.interval[1]


def welch_df(std_a: float, n_a: int, std_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom (needs n >= 2 on both sides and some spread)."""
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    return (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))


def welch_difference(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int,
                     level: float = LEVEL) -> Difference:
    value = mean_a - mean_b
    if n_a < 2 or n_b < 2:
        return Difference(value, None, None)
    se = math.sqrt(std_a ** 2 / n_a + std_b ** 2 / n_b)
    if se == 0.0:  # every seed scored the same on both sides: the difference is exact
        return Difference(value, (value, value), math.inf)
    df = welch_df(std_a, n_a, std_b, n_b)
    half = t_quantile(0.5 + level / 2, df) * se
    return Difference(value, (value - half, value + half), df)
