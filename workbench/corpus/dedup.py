"""Exact deduplication table of 64-bit content hashes in 8 bytes per entry.

A Python set costs ~70 bytes per hash; a corpus of 100 million paragraphs
would need gigabytes. Here recent hashes sit in a small set that is merged
into one sorted ``uint64`` array when it holds 1/16 of the array (at least
8192); membership is a set lookup or a (batched) binary search.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (a sort and one comparison pass: cheaper than ``np.unique`` here)."""
    values = np.sort(np.asarray(values, dtype=np.uint64))
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


class HashTable64:
    def __init__(self, pending_limit: int = 1 << 13) -> None:
        self.pending: set = set()
        self.frozen = np.zeros(0, dtype=np.uint64)
        self.pending_limit = pending_limit

    def __len__(self) -> int:
        return len(self.pending) + len(self.frozen)

    def __contains__(self, value: int) -> bool:
        if value in self.pending:
            return True
        frozen = self.frozen
        if not len(frozen):
            return False
        key = np.uint64(value)
        position = int(np.searchsorted(frozen, key))
        return position < len(frozen) and frozen[position] == key

    def add(self, value: int) -> None:
        self.pending.add(value)

    def add_many(self, values: np.ndarray) -> None:
        self.pending.update(np.asarray(values, dtype=np.uint64).tolist())

    def settle(self) -> None:
        """Merge the recent hashes into the sorted array when there are enough of them (call between batches)."""
        # geometric: a merge copies the sorted array, so merge after len/16 new hashes (amortised O(1) per
        # hash) and keep the set of recent hashes small (~70 bytes each) against the array (8 bytes each)
        if len(self.pending) >= max(self.pending_limit, len(self.frozen) // 16):
            self._merge()

    def contains_settled(self, values: np.ndarray) -> np.ndarray:
        """Membership of many hashes in the sorted array only (the recent ones are checked one by one)."""
        frozen = self.frozen
        if not len(frozen):
            return np.zeros(len(values), dtype=bool)
        positions = np.minimum(np.searchsorted(frozen, values), len(frozen) - 1)
        return frozen[positions] == values

    def first_seen(self, values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Mask of the ``candidates`` whose hash is neither in the table nor at an earlier candidate of
        ``values``: the documents an in-order pass would keep. Adds nothing (see ``add_many``)."""
        values = np.asarray(values, dtype=np.uint64)
        fresh = candidates & ~self.contains_settled(values)
        if self.pending:
            pending = self.pending
            fresh &= ~np.fromiter(map(pending.__contains__, values.tolist()), dtype=bool, count=len(values))
        positions = np.flatnonzero(fresh)
        _, first = np.unique(values[positions], return_index=True)  # index of the first occurrence of each
        out = np.zeros(len(values), dtype=bool)
        out[positions[first]] = True
        return out

    def _merge(self) -> None:
        if self.pending:
            fresh = np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending))
            self.frozen = sorted_unique(np.concatenate((self.frozen, fresh)))
            self.pending = set()

    def to_array(self) -> np.ndarray:
        """All hashes, sorted (what a resume state stores); does not change the table."""
        if not self.pending:
            return self.frozen.copy()
        fresh = np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending))
        return sorted_unique(np.concatenate((self.frozen, fresh)))

    @classmethod
    def from_array(cls, values: Iterable[int] | np.ndarray) -> "HashTable64":
        table = cls()
        table.frozen = sorted_unique(np.asarray(values, dtype=np.uint64))
        return table
