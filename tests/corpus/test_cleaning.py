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


def test_text_hashes_equal_text_hash_one_by_one():
    from workbench.corpus.cleaning import text_hash, text_hashes

    texts = ["", "a", "l'hôpital\nqu'il", "\ud800 lone surrogate", "😀" * 1000] + [f"document {i}" for i in range(100)]
    assert text_hashes(texts).tolist() == [text_hash(text) for text in texts]
    assert text_hashes([]).dtype == np.uint64 and text_hashes([]).size == 0


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


def _noisy_lines(prose_files, n_files: int = 4, seed: int = 0) -> list[str]:
    """Real prose lines (trailing spaces, no-break spaces before ; : ! ?) plus copies with odd characters inserted."""
    import random

    lines = [l for path in prose_files[:n_files] for l in path.read_text("utf-8").split("\n")]
    odd = ["", " ", "  a  b ", "\x00\x01", "\x1f", "a\u00a0b", "\u00a0", " \u00a0 ", "e\u0301t\u00e9", "\u0301", "\ufffd x",
           "tab\tx", "\u200bzéro", "ａｂｃ", "ﬁn", "\u202f;", "\u2009", "\x85", "\u2028", "M. Dupont. Il", "« Non. » Puis", "…"]
    rng = random.Random(seed)
    noisy = []
    for _ in range(6000):
        line = rng.choice(lines)
        for _ in range(rng.randrange(1, 4)):
            k = rng.randrange(len(line) + 1)
            line = line[:k] + rng.choice(odd) + line[k:]
        noisy.append(line)
    return lines + noisy + odd


@pytest.mark.parametrize("normalization", ["NFC", "NFKC", "none"])
def test_chunk_cleaning_equals_line_by_line_cleaning(prose_files, normalization):
    """prepare's workers clean a chunk at once (clean_lines, line_codes): same lines, same drop reasons."""
    from workbench.corpus.cleaning import DROP_REASONS, SEPARATOR, clean_lines, line_codes

    raw = _noisy_lines(prose_files)
    cleaned = clean_lines(raw, normalization)
    assert cleaned == [clean_line(line, normalization) for line in raw]
    assert sum(l != r for l, r in zip(cleaned, raw)) > len(raw) // 2  # real lines end with a space
    for rules in (
        CleaningRules(normalization=normalization),
        CleaningRules(normalization=normalization, min_chars=20, max_chars=300, skip_undecodable=True, min_alpha_fraction=0.6),
    ):
        codes = line_codes(cleaned, raw, rules).tolist()
        for code, line, original in zip(codes, cleaned, raw):
            reason = drop_reason(line, rules)
            if reason is None:
                assert code == 0
            elif not line and not original.strip():
                assert code == SEPARATOR  # blank: structure, not counted (as clean_document does)
            else:
                assert DROP_REASONS[code - 1] == reason
        assert len(set(codes)) >= (6 if rules.min_chars > 1 else 3)


def test_validation_mask_equals_is_validation():
    from workbench.corpus.cleaning import validation_mask

    hashes = [document_hash([f"doc {i}"]) for i in range(5000)] + [0, 1, 2**63, 2**64 - 1]
    for fraction in (0.0, 0.01, 0.3, 0.999999, 1.0):
        mask = validation_mask(np.array(hashes, dtype=np.uint64), fraction)
        assert mask.tolist() == [is_validation(h, fraction) for h in hashes]


def test_sentence_starts_cut_many_lines_like_split_sentences(prose_files, shared_data):
    """One search over a chunk of lines joined by LINE_SEPARATOR gives split_sentences' cuts on each line."""
    from workbench.corpus.cleaning import clean_lines
    from workbench.corpus.sentences import LINE_SEPARATOR, sentence_starts

    english = sorted((shared_data / "english_prose").glob("*/*.txt"))[:2]
    lines = [l for l in clean_lines(_noisy_lines(list(prose_files) + english, n_files=6, seed=1), "NFC") if l]
    lines += ["...", "!?", "Fin.", "M.", ". A", "« Oui ! » Non", "Il dit. « Non. » Puis ?! « Oui… » Enfin", "a.) B", "x. ’Y"]
    text = LINE_SEPARATOR.join(lines)
    line_starts = np.cumsum([0] + [len(l) + 1 for l in lines[:-1]]).tolist()
    cuts = sorted(set(sentence_starts(text)) | set(line_starts))
    got = [text[a : b - 1] for a, b in zip(cuts, cuts[1:] + [len(text) + 1])]
    expected = [s for line in lines for s in split_sentences(line)]
    assert got == expected and len(expected) > 1.3 * len(lines)


def test_first_seen_is_an_in_order_pass():
    """HashTable64.first_seen on a batch: what adding the batch's hashes one at a time would keep."""
    rng = np.random.default_rng(3)
    table = HashTable64(pending_limit=64)
    seen: set = set()
    for batch_number in range(40):
        values = rng.integers(0, 300, size=int(rng.integers(0, 50))).astype(np.uint64) * np.uint64(2**55 + 7)
        candidates = rng.random(len(values)) < 0.9
        expected = []
        for value, candidate in zip(values.tolist(), candidates.tolist()):
            expected.append(candidate and value not in seen)
            if candidate:
                seen.add(value)
        table.settle()
        fresh = table.first_seen(values, candidates)
        assert fresh.tolist() == expected
        table.add_many(values[fresh])
    assert len(table) == len(seen) and len(table.frozen) > 0
