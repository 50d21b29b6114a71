"""SentencePiece BPE trains on the sample's word counts: the counts equal those of the normalized lines, and
the model equals the one SentencePiece trains on the lines themselves."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import List

import pytest

from tests.tokenization.conftest import SPECS
from workbench.text.normalize import NormalizationSpec, normalize_lines
from workbench.text.word_counts import count_normalized_words, count_raw_words


# Each line targets one way a per-word normalization could differ from the per-line one.
HARD_LINES = [
    "a\x1cb c\x1fd",  # Python splits on U+001C-U+001F, the normalizer removes them
    "x\u00ad\u0301y e\u200b\u0301 \u0301z",  # a control between a letter and its mark; a mark after a space
    "e\u0301te\u0301 E\u0301TE\u0301 ÉTÉ",  # decomposed, composed, uppercase
    "¨a ½ ﬁn ﬀ ㋿ ⑴ ´x",  # NFKC turns ¨ and ´ into a space plus a mark
    "\u2000a\u3000b\u00a0!\u202f? c\u2009d\u2028e\u2029f\x85g\x0bh\x0ci\tj\rk",  # every kind of space
    "l’hôpital L’HÔPITAL qu\u02bcil aujourd’hui",  # apostrophes, elisions
    "ΣΟΦΟΣ ΟΔΟΣ σοφός",  # final sigma
    "İstanbul ǅemal ẞ \u1e9e",  # lowercase that grows or decomposes
    "\x00\x00 \ufeffmot\x7f \x80\x9f",  # words made only of controls, BOM, DEL, C1
    "a\u0301\u0323 a\u0323\u0301 ậ",  # canonical reordering
    "日本語テキスト ﾃｽﾄ Ꞌ ꟋꟌ",  # outside the fast normalization ranges
    "ordinary ASCII words, with punctuation; and 1234",
    "   ",
    "",
]


def _counted_from_lines(lines: List[str], spec: NormalizationSpec) -> Counter:
    words = Counter(itertools.chain.from_iterable(map(str.split, normalize_lines(lines, spec), itertools.repeat(" "))))
    words.pop("", None)  # a line that normalizes to nothing
    return words


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_word_counts_equal_counting_the_normalized_lines(spec):
    assert count_normalized_words(HARD_LINES, spec) == _counted_from_lines(HARD_LINES, spec)


def test_word_counts_on_real_french_text(prose_lines):
    for spec in (NormalizationSpec(), NormalizationSpec(unicode_form="NFKC", lowercase=True, strip_accents=True)):
        counts = count_normalized_words(prose_lines, spec)
        assert counts == _counted_from_lines(prose_lines, spec)
    assert sum(counts.values()) > 50_000


def test_raw_word_counts_do_not_depend_on_the_chunk_size():
    lines = HARD_LINES * 7
    assert count_raw_words(lines, chunk_lines=1) == count_raw_words(lines, chunk_lines=5) == count_raw_words(lines)


def _train_bpe(rows, input_format: str, vocab_size: int) -> bytes:
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.families import get_family
    from workbench.tokenization.train_sentencepiece import train_sentencepiece_model

    config = TokenizerConfig(
        name="t", algorithm="sentencepiece_bpe", special_tokens="roberta", vocab_size=vocab_size, character_coverage=0.9995
    )
    return train_sentencepiece_model(config, rows, get_family("roberta"), input_format=input_format)


def _pieces_and_scores(model: bytes):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=model)
    ids = range(processor.get_piece_size())
    return [(processor.id_to_piece(i), processor.get_score(i)) for i in ids]


def _real_lines(shared_data: Path, count: int) -> List[str]:
    folder = shared_data / "french_prose" / "eltec_fra_plain1"
    files = sorted(folder.glob("FRA*.txt"))[:30]
    if not files:
        pytest.skip(f"{folder} has no novel files")
    lines: List[str] = []
    for path in files:
        lines.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return lines[:count]


def test_bpe_from_word_counts_is_the_model_trained_on_lines(shared_data):
    """SentencePiece's BPE trainer splits sentences into words and trains on their counts: given the counts
    directly (tsv input), it learns the same pieces with the same scores, in the same order."""
    from workbench.tokenization.train_sentencepiece import WordCounts

    lines = _real_lines(shared_data, 30_000) + HARD_LINES
    spec = NormalizationSpec()
    normalized = [line for line in normalize_lines(lines, spec) if line]
    from_lines = _pieces_and_scores(_train_bpe(normalized, "text", 6000))
    counts = count_normalized_words(lines, spec)
    from_counts = _pieces_and_scores(_train_bpe(WordCounts(counts).rows(), "tsv", 6000))
    assert len(from_lines) == 6000 - 2  # roberta: 5 specials for SentencePiece's 3 controls
    assert from_counts == from_lines
    # the order of the rows does not matter (SentencePiece sorts the words by count, then by word)
    reordered = Counter(dict(sorted(counts.items(), key=lambda item: (item[1], item[0]))))
    assert _pieces_and_scores(_train_bpe(WordCounts(reordered).rows(), "tsv", 6000)) == from_lines


def test_word_counts_round_trip():
    from workbench.tokenization.train_sentencepiece import WordCounts

    counts = count_normalized_words(HARD_LINES, NormalizationSpec())
    for compact in (WordCounts(counts), WordCounts(counts, chunk_words=3)):
        pairs = [(word, count) for words, occurrences in compact.chunks() for word, count in zip(words, occurrences.tolist())]
        assert dict(pairs) == counts and len(pairs) == len(counts)
        assert list(compact.rows())[:4] == [f"{word}\t{count}" for word, count in list(counts.items())[:4]]
    assert list(WordCounts(Counter()).chunks()) == [] and list(WordCounts(Counter()).rows()) == []


@pytest.mark.parametrize("spec", [NormalizationSpec(), NormalizationSpec(unicode_form="NFKC", lowercase=True, strip_accents=True)], ids=str)
def test_word_counts_for_every_character_of_the_basic_plane(spec):
    """Every BMP code point (all Unicode whitespace, controls, combining marks and compatibility characters
    live there) inside a word, at its end and at its start. (The whole code space, one line per character,
    was checked once by hand: no difference.)"""
    chars = [chr(code) for code in range(0x10000) if not 0xD800 <= code <= 0xDFFF]
    for start in range(0, len(chars), 8192):
        lines = [f"a{char}b x{char} {char}y" for char in chars[start : start + 8192]]
        assert count_normalized_words(lines, spec) == _counted_from_lines(lines, spec), hex(ord(chars[start]))
