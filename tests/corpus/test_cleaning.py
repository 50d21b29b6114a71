"""Cleaning, sentence splitting, hashing and the dedup table."""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np
import pytest

from workbench.corpus.cleaning import CleaningRules, clean_document, clean_line, document_hash, drop_reason, is_validation
from workbench.corpus.dedup import HashTable64
from workbench.corpus.sentences import split_sentences


def test_clean_line_normalizes_and_strips_controls():
    decomposed = unicodedata.normalize("NFD", "Éléonore  était\tlà\u200b ;\u00a0oui\x07")
    assert clean_line(decomposed, "NFC") == "Éléonore était là ; oui"
    assert unicodedata.is_normalized("NFC", clean_line(decomposed, "NFC"))
    assert clean_line("ﬁn ①", "NFKC") == "fin 1"
    assert clean_line("ﬁn", "none") == "ﬁn"


def test_filters_count_every_dropped_line_by_reason():
    rules = CleaningRules(min_chars=5, max_chars=40, min_alpha_fraction=0.5, skip_undecodable=True)
    stats: Counter = Counter()
    text = "\n".join(["ok ceci est gardé", "abc", "x" * 41, "12345 67890 !!", "mot \ufffd mot", "\x00\x01", "", "encore une ligne"])
    kept = clean_document(text, rules, stats)
    assert kept == ["ok ceci est gardé", "encore une ligne"]
    assert stats == {"line_too_short": 1, "line_too_long": 1, "line_low_alpha": 1, "line_undecodable": 1, "line_empty": 1}
    assert drop_reason("mot \ufffd mot", CleaningRules()) is None  # replace policy keeps it


def test_validation_assignment_is_deterministic_and_has_the_asked_rate():
    hashes = [document_hash([f"document {i}"]) for i in range(20000)]
    share = np.mean([is_validation(h, 0.1) for h in hashes])
    assert abs(share - 0.1) < 3 * np.sqrt(0.09 / 20000)
    assert [is_validation(h, 0.1) for h in hashes[:100]] == [is_validation(h, 0.1) for h in hashes[:100]]
    assert not any(is_validation(h, 0.0) for h in hashes[:1000]) and all(is_validation(h, 1.0) for h in hashes[:1000])
    assert document_hash(["a", "b"]) != document_hash(["a b"])


def test_hash_table_is_exact_across_merges():
    table = HashTable64(pending_limit=64)
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**63, size=1000, dtype=np.int64).astype(np.uint64).tolist()
    values += [2**64 - 1, 0]
    for i, v in enumerate(values):
        table.add(int(v))
        if i % 50 == 0:
            table.settle()
    assert len(table.frozen) > 0 and len(table.pending) < 64  # merged along the way
    assert all(int(v) in table for v in values)
    batch = np.array(values[:500], dtype=np.uint64)
    assert np.array_equal(table.contains_settled(batch), np.isin(batch, table.frozen))
    others = rng.integers(0, 2**63, size=1000, dtype=np.int64).astype(np.uint64).tolist()
    assert sum(int(v) in table for v in others if v not in set(values)) == 0
    restored = HashTable64.from_array(table.to_array())
    assert len(restored) == len(set(values)) and all(int(v) in restored for v in values)


@pytest.mark.parametrize(
    "line,expected",
    [
        ("M. Dupont est venu. Il a vu J. Verne à 3 h. Puis il est parti...", ["M. Dupont est venu.", "Il a vu J. Verne à 3 h.", "Puis il est parti..."]),
        ("— Hé ! Mandine, criait-elle. Toi, la Rose.", ["— Hé !", "Mandine, criait-elle.", "Toi, la Rose."]),
        ("Il dit « Non. » Puis « Oui ! » Enfin", ["Il dit « Non. »", "Puis « Oui ! »", "Enfin"]),
        ("Mr. Smith went to Washington. He was happy.", ["Mr. Smith went to Washington.", "He was happy."]),
        ("Voir p. 12 et cf. Dupont, etc. pour la suite", ["Voir p. 12 et cf. Dupont, etc. pour la suite"]),
        ("Une phrase sans fin", ["Une phrase sans fin"]),
    ],
)
def test_sentence_splitting(line, expected):
    assert split_sentences(line) == expected


def test_sentence_splitting_loses_nothing_on_real_prose(prose_files):
    lines = [clean_line(l, "NFC") for l in prose_files[5].read_text("utf-8").splitlines()[:2000]]
    lines = [l for l in lines if l]
    count = 0
    for line in lines:
        sentences = split_sentences(line)
        assert " ".join(sentences) == line
        count += len(sentences)
    assert count > 1.2 * len(lines)  # paragraphs hold several sentences
