"""Word identities for the word cache without a Python object per word (pure numpy).

``word_hashes`` gives a 64-bit hash of every word of a text held as code points
(a polynomial hash modulo 2**64 computed from prefix sums, then mixed), and
``HashIndex`` maps hashes to word ids in an open-addressing table probed for
all words of a chunk at once. A hash only proposes an identity: the word cache
compares the code points of every occurrence with those of the cached word
(``UnitEncoder``), so a collision can cost time, never a wrong id.
"""

from __future__ import annotations

import numpy as np

_MULTIPLIER = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_INVERSE = pow(_MULTIPLIER, -1, 1 << 64)
_BLOCK_BITS = 16
_BLOCK = 1 << _BLOCK_BITS
_KEEP_PREFIX = 1 << 21  # powers kept between calls (16 MiB at most)


def _power_table(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count - 1) modulo 2**64 (numpy uint64 arithmetic wraps)."""
    table = np.ones(count, dtype=np.uint64)
    if count > 1:
        table[1:] = np.cumprod(np.full(count - 1, base, dtype=np.uint64))
    return table


class _Powers:
    """base**k modulo 2**64 for any k >= 0, as (base**BLOCK)**(k >> 16) * base**(k & 0xFFFF): two small
    tables (the high one grows with the longest text seen), never one entry per position."""

    def __init__(self, base: int) -> None:
        self.low = _power_table(base, _BLOCK)
        self.high_base = pow(base, _BLOCK, 1 << 64)
        self.high = _power_table(self.high_base, 16)
        self._prefix = self.low

    def _ensure(self, blocks: int) -> None:
        if blocks > len(self.high):
            self.high = _power_table(self.high_base, max(blocks, 2 * len(self.high)))

    def prefix(self, n: int) -> np.ndarray:
        """base**0 .. base**(n - 1) (kept for the next call up to ``_KEEP_PREFIX`` entries: chunks are alike)."""
        if n <= len(self._prefix):
            return self._prefix[:n]
        blocks = (n + _BLOCK - 1) >> _BLOCK_BITS
        self._ensure(blocks)
        table = np.multiply.outer(self.high[:blocks], self.low).reshape(-1)
        if len(table) <= _KEEP_PREFIX:
            self._prefix = table
        return table[:n]

    def at(self, exponents: np.ndarray) -> np.ndarray:
        exponents = np.asarray(exponents, dtype=np.int64)
        if len(exponents):
            self._ensure(int(exponents.max() >> _BLOCK_BITS) + 1)
        return self.high[exponents >> _BLOCK_BITS] * self.low[exponents & (_BLOCK - 1)]


_POWERS = _Powers(_MULTIPLIER)
_INVERSE_POWERS = _Powers(_INVERSE)
_LENGTH_MIX = np.uint64(0xD6E8FEB86659FD93)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def word_hashes(codepoints: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """uint64 hash of each word ``codepoints[starts[i]:ends[i]]``: sum of (c + 1) * M**(position in the
    word) modulo 2**64, from one prefix sum over the text (the sum of a word is its prefix difference
    times M**-start), its length mixed in, then the splitmix64 finalizer (good bits for the table)."""
    n = len(codepoints)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    terms = codepoints.astype(np.uint64)
    terms += np.uint64(1)
    terms *= _POWERS.prefix(n)
    np.cumsum(terms, out=prefix[1:])
    h = (prefix[ends] - prefix[starts]) * _INVERSE_POWERS.at(starts)
    h ^= (ends - starts).astype(np.uint64) * _LENGTH_MIX
    h ^= h >> np.uint64(30)
    h *= _MIX_1
    h ^= h >> np.uint64(27)
    h *= _MIX_2
    h ^= h >> np.uint64(31)
    return h


class HashIndex:
    """uint64 hash -> int32 value >= 0, linear probing in power-of-two tables kept at most half full; lookups
    and inserts take arrays (a loop over probe rounds, each a few numpy passes over the unresolved keys)."""

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        capacity = 1 << max(4, (capacity - 1).bit_length())
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.values = np.full(capacity, -1, dtype=np.int32)  # -1: empty slot (values are word ids < 2**31)
        self.shift = np.uint64(64 - capacity.bit_length() + 1)  # home slot: the top bits of the hash
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return (keys >> self.shift).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, -1 where the key is absent."""
        slots = self._home(keys)
        mask = len(self.keys) - 1
        # first probe for all keys at once, then rounds over the few that met another key
        values = self.values[slots]
        occupied = values >= 0
        hit = occupied & (self.keys[slots] == keys)
        out = np.where(hit, values, -1).astype(np.int64)
        todo = np.flatnonzero(occupied & ~hit)
        pending = keys[todo]
        slots = (slots[todo] + 1) & mask
        while len(todo):
            values = self.values[slots]
            found = self.keys[slots] == pending
            hit = found & (values >= 0)
            out[todo[hit]] = values[hit]
            go_on = ~hit & (values >= 0)  # another key sits there: probe the next slot
            todo, pending = todo[go_on], pending[go_on]
            slots = (slots[go_on] + 1) & mask
        return out

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Add keys that are absent and distinct from each other."""
        if self.size + len(keys) > len(self.keys) // 2:
            old_keys, old_values = self.keys[self.values >= 0], self.values[self.values >= 0]
            self._allocate(4 * (self.size + len(keys)))  # amortised: grows by 4x at most once in a while
            self._place(old_keys, old_values)
        self._place(np.asarray(keys, dtype=np.uint64), np.asarray(values, dtype=np.int32))

    def _place(self, keys: np.ndarray, values: np.ndarray) -> None:
        slots = self._home(keys)
        mask = len(self.keys) - 1
        self.size += len(keys)
        while len(keys):
            free = self.values[slots] < 0
            # of the keys that reach the same free slot in this round, the first takes it
            candidates = np.flatnonzero(free)
            _, first = np.unique(slots[candidates], return_index=True)
            placed = candidates[first]
            self.keys[slots[placed]] = keys[placed]
            self.values[slots[placed]] = values[placed]
            rest = np.ones(len(keys), dtype=bool)
            rest[placed] = False
            keys, values, slots = keys[rest], values[rest], (slots[rest] + 1) & mask

    def rebuild(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Replace the content by these (distinct) keys."""
        self._allocate(max(1 << 12, 2 * len(keys)))
        self._place(np.asarray(keys, dtype=np.uint64), np.asarray(values, dtype=np.int32))
