"""Vectorised word hashes equal a plain-Python reference; the hash index behaves like a dict."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workbench.corpus.word_hashing import HashIndex, word_hashes

M64 = (1 << 64) - 1


def _reference_hash(word: str) -> int:
    """The documented formula, one word at a time with Python integers."""
    multiplier = 0x9E3779B97F4A7C15
    h, power = 0, 1
    for char in word:
        h = (h + (ord(char) + 1) * power) & M64
        power = (power * multiplier) & M64
    h ^= (len(word) * 0xD6E8FEB86659FD93) & M64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    h ^= h >> 31
    return h


def _words_of(text: str, separators: str = " \x00"):
    codepoints = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cuts = np.flatnonzero(np.isin(codepoints, [ord(c) for c in separators]))
    starts = np.concatenate(([0], cuts + 1)).astype(np.int64)
    ends = np.concatenate((cuts, [len(codepoints)])).astype(np.int64)
    return codepoints, starts, ends


def test_word_hashes_equal_the_reference_formula_anywhere_in_a_long_text():
    rng = random.Random(0)
    alphabet = "abcdeéèàçœ’«»…—" + "\U0001f600\u4e2d"  # BMP and astral code points
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(30000)]
    words[100] = "x" * 70000  # a word longer than one power block (65536)
    text = " ".join(words[:15000]) + "\x00" + " ".join(words[15000:])
    codepoints, starts, ends = _words_of(text)
    assert len(codepoints) > 3 * 65536  # positions in several blocks of the power tables
    got = word_hashes(codepoints, starts, ends)
    assert got.dtype == np.uint64 and len(got) == len(words)
    sample = list(range(0, len(words), 97)) + [100, 101, len(words) - 1]
    assert [int(got[i]) for i in sample] == [_reference_hash(words[i]) for i in sample]
    # the hash of a word does not depend on where it is: equal words, equal hashes
    first = {}
    for word, h in zip(words, got.tolist()):
        assert first.setdefault(word, h) == h


def test_empty_text_has_one_empty_word():
    codepoints, starts, ends = _words_of("")
    assert word_hashes(codepoints, starts, ends).tolist() == [_reference_hash("")]


def test_hash_index_matches_a_dict_with_growth_probing_and_rebuild():
    rng = np.random.default_rng(1)
    index = HashIndex(capacity=16)
    reference = {}
    # keys sharing their top bits pile up on the same home slots: long probe runs
    crowded = (np.arange(1, 200, dtype=np.uint64) | np.uint64(0xFFF0000000000000))
    batches = [crowded] + [rng.integers(0, 2**63, size=int(rng.integers(1, 3000)), dtype=np.uint64) * np.uint64(2) for _ in range(12)]
    for keys in batches:
        keys = np.unique(keys)
        keys = keys[[int(k) not in reference for k in keys.tolist()]]
        rng.shuffle(keys)
        values = np.arange(len(reference), len(reference) + len(keys), dtype=np.int64)
        index.insert(keys, values)
        reference.update(zip(keys.tolist(), values.tolist()))
        assert len(index) == len(reference)
        assert len(index.keys) >= 2 * len(index)  # never more than half full
        probe = np.concatenate((np.fromiter(reference, dtype=np.uint64, count=len(reference)), rng.integers(0, 2**63, size=500, dtype=np.uint64) * np.uint64(2) + np.uint64(1)))
        expected = [reference.get(k, -1) for k in probe.tolist()]
        assert index.lookup(probe).tolist() == expected
    kept = list(reference)[::3]
    index.rebuild(np.array(kept, dtype=np.uint64), np.arange(len(kept), dtype=np.int64))
    assert len(index) == len(kept)
    assert index.lookup(np.array(kept, dtype=np.uint64)).tolist() == list(range(len(kept)))
    dropped = np.array(list(reference)[1::3], dtype=np.uint64)
    assert (index.lookup(dropped) == -1).all()


@pytest.mark.parametrize("n", [0, 1])
def test_hash_index_small_inputs(n):
    index = HashIndex()
    keys = np.arange(n, dtype=np.uint64) + np.uint64(7)
    index.insert(keys, np.arange(n, dtype=np.int64))
    assert index.lookup(keys).tolist() == list(range(n))
    assert index.lookup(np.zeros(0, dtype=np.uint64)).tolist() == []
