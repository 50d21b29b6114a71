"""Batch orders: length-grouped shuffling for training, length-sorted batches for prediction.

Length grouping (the megabatch scheme of transformers' ``LengthGroupedSampler``):
shuffle all indices, cut them into megabatches of ``mega`` batches, sort each
megabatch by length (longest first) and cut it into batches, then shuffle the
batch order (the batch with the longest feature goes first so memory peaks
early). Batches of similar lengths waste little dynamic padding while the order
stays random. The randomness is ``numpy.random.default_rng((seed, epoch))``:
the same (seed, epoch) gives the same batches.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> List[List[int]]:
    order = np.random.default_rng((seed, epoch)).permutation(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, mega: int = 50) -> List[List[int]]:
    rng = np.random.default_rng((seed, epoch))
    lengths_arr = np.asarray(lengths)
    order = rng.permutation(len(lengths_arr))
    size = batch_size * mega
    batches: List[List[int]] = []
    for start in range(0, len(order), size):
        group = order[start : start + size]
        group = group[np.argsort(-lengths_arr[group], kind="stable")]
        batches.extend(group[i : i + batch_size].tolist() for i in range(0, len(group), batch_size))
    if not batches:
        return batches
    permutation = rng.permutation(len(batches)).tolist()
    batches = [batches[i] for i in permutation]
    longest = max(range(len(batches)), key=lambda i: max(lengths_arr[batches[i]]))
    batches[0], batches[longest] = batches[longest], batches[0]
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """Prediction batches by decreasing length (deterministic; callers put outputs back by index)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
