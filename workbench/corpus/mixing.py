"""Multilingual sampling: XLM-style exponent smoothing of language probabilities (pure)."""

from __future__ import annotations

from typing import Dict, List

import numpy as np


def smoothed_probabilities(weighted_sizes: Dict[str, float], alpha: float) -> Dict[str, float]:
    """q_l = p_l^alpha / sum_k p_k^alpha with p_l = size_l / sum_k size_k (XLM, Conneau & Lample 2019).

    ``weighted_sizes`` are token counts already multiplied by the sources' weights; alpha=1 keeps p,
    alpha<1 moves mass toward the smaller languages, alpha=0 gives the uniform distribution.
    """
    total = float(sum(weighted_sizes.values()))
    if total <= 0:
        return {lang: 0.0 for lang in weighted_sizes}
    powered = {lang: (size / total) ** alpha if size > 0 else 0.0 for lang, size in weighted_sizes.items()}
    norm = sum(powered.values())
    return {lang: value / norm for lang, value in powered.items()}


def allocate(probabilities: List[float], total: int) -> np.ndarray:
    """Integer counts summing to ``total`` closest to ``probabilities * total`` (largest remainder)."""
    p = np.asarray(probabilities, dtype=np.float64)
    exact = p * total
    counts = np.floor(exact).astype(np.int64)
    remainder = total - int(counts.sum())
    if remainder > 0:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:remainder]] += 1
    return counts
