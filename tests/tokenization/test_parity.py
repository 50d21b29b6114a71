"""The exported folder gives the same ids in transformers, and the conversion is faithful to sentencepiece."""

from __future__ import annotations

import pytest
import sentencepiece as spm

from tests.helpers import FLOAT32_EPS
from workbench.tokenization.tokenizer import Tokenizer

transformers = pytest.importorskip("transformers")

FAST = [
    ("wordpiece", "bert"),
    ("wordpiece", "roberta"),
    ("sentencepiece_bpe", "roberta"),
    ("sentencepiece_unigram", "roberta"),
    ("sentencepiece_unigram", "bert"),
    ("byte_bpe", "roberta"),
]
EDGE_CASES = [
    "",
    "   ",
    "l’hôpital\u00a0! qu'il",
    "nul\x00byte\tand\u200bzero width",
    "Il a dit : <mask> et [MASK] puis <s> </s> <special1>",
    "ÉTÉ À L'ÎLE, NOËL — « guillemets » …",
    "日本語 et émojis 🙂",
]


def _auto(folder):
    return transformers.AutoTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize("algorithm,family", FAST)
def test_auto_tokenizer_gives_the_same_ids(trained, prose_lines, algorithm, family):
    folder = trained(algorithm, family)
    ours = Tokenizer.load(folder)
    theirs = _auto(folder)
    lines = prose_lines + EDGE_CASES
    expected = [ours.build_inputs(ids)[0] for ids in ours.encode_batch(lines)]
    got = theirs(lines, truncation=False)["input_ids"]
    mismatches = [line for line, a, b in zip(lines, expected, got) if a != b]
    assert not mismatches, f"{len(mismatches)} lines differ, first: {mismatches[0]!r}"
    assert len(lines) >= 2000
    for first, second in zip(prose_lines[:200:2], prose_lines[1:200:2]):
        ids, types = ours.build_inputs(ours.encode(first), ours.encode(second))
        encoded = theirs(first, second, return_token_type_ids=True)
        assert encoded["input_ids"] == ids
        assert encoded["token_type_ids"] == types
    assert theirs.pad_token_id == ours.pad_id and theirs.mask_token_id == ours.mask_id
    assert theirs.unk_token_id == ours.unk_id and len(theirs) == ours.vocab_size


def test_flaubert_tokenizer_gives_the_same_ids(trained, prose_lines):
    folder = trained("moses_bpe", "flaubert")
    ours = Tokenizer.load(folder)
    theirs = _auto(folder)
    assert type(theirs).__name__ == "FlaubertTokenizer"
    lines = prose_lines[::2] + EDGE_CASES  # 1000 lines: FlaubertTokenizer is pure Python
    expected = [ours.build_inputs(ids)[0] for ids in ours.encode_batch(lines)]
    got = [theirs(line, truncation=False)["input_ids"] for line in lines]
    mismatches = [line for line, a, b in zip(lines, expected, got) if a != b]
    assert not mismatches, f"{len(mismatches)} lines differ, first: {mismatches[0]!r}"
    ids, types = ours.build_inputs(ours.encode(lines[0]), ours.encode(lines[1]))
    encoded = theirs(lines[0], lines[1], return_token_type_ids=True)
    assert encoded["input_ids"] == ids and encoded["token_type_ids"] == types
    assert theirs.mask_token == "<special1>" and theirs.mask_token_id == ours.mask_id == 5


def test_flaubert_lowercase_parity(trained, prose_lines):
    folder = trained("moses_bpe", "flaubert", lowercase=True)
    ours = Tokenizer.load(folder)
    theirs = _auto(folder)
    lines = prose_lines[:300] + EDGE_CASES
    assert [ours.build_inputs(ours.encode(line))[0] for line in lines] == [theirs(line)["input_ids"] for line in lines]
    assert "été" in ours.decode(ours.encode("ÉTÉ"))


def _spm_ids(ours: Tokenizer, processor: spm.SentencePieceProcessor, line: str):
    pieces = processor.encode(ours.normalize(line))
    return [ours.unk_id if processor.is_unknown(i) else ours.token_to_id(processor.id_to_piece(i)) for i in pieces]


def test_sentencepiece_bpe_conversion_is_exact(trained, prose_lines):
    folder = trained("sentencepiece_bpe", "roberta")
    ours = Tokenizer.load(folder)
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    lines = prose_lines + [case for case in EDGE_CASES if "<" not in case]  # spm knows no special strings
    # the `tokenizers` pipeline itself (what transformers loads; Tokenizer.encode_batch encodes these with
    # sentencepiece, tests/tokenization/test_fast_encoding.py)
    encoded = [encoding.ids for encoding in ours.backend.encode_batch(lines, add_special_tokens=False)]
    differing = [line for line, ids in zip(lines, encoded) if ids != _spm_ids(ours, processor, line)]
    assert not differing, f"{len(differing)} lines differ, first: {differing[0]!r}"


def test_sentencepiece_unigram_conversion_differs_only_on_exact_ties(trained, prose_lines):
    """Viterbi ties (e.g. "...." = "..." + "." or "." + "...") are broken differently by the two libraries;
    any other difference would be a conversion bug."""
    folder = trained("sentencepiece_unigram", "roberta")
    ours = Tokenizer.load(folder)
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    ties = 0
    lines = prose_lines + [case for case in EDGE_CASES if "<" not in case]
    for line, ids in zip(lines, ours.encode_batch(lines)):
        reference = _spm_ids(ours, processor, line)
        if ids == reference:
            continue
        assert ours.unk_id not in ids + reference, line
        score = lambda sequence: sum(processor.get_score(processor.piece_to_id(ours.id_to_token(i))) for i in sequence)
        # a tie in SentencePiece's float32 Viterbi sums: summed again in float64, the two scores differ by the
        # rounding of those float32 partial sums, a few float32 eps of the line's total (abs=1e-4 for short lines)
        assert score(ids) == pytest.approx(score(reference), rel=8 * FLOAT32_EPS, abs=1e-4), line
        assert ours.decode(ids) == processor.decode(processor.encode(ours.normalize(line)))
        ties += 1
    assert ties <= len(prose_lines) // 100


def _reference_bpe_merges(vocab, scored_pieces):
    """transformers' SentencePieceExtractor rule, written plainly: every split of a piece into two known
    pieces, ordered by the piece's score (best first, ties in piece order), then by the ids of the halves."""
    merges = []
    for piece, score in scored_pieces:
        local = [(piece[:cut], piece[cut:], score) for cut in range(1, len(piece)) if piece[:cut] in vocab and piece[cut:] in vocab]
        merges.extend(sorted(local, key=lambda merge: (vocab[merge[0]], vocab[merge[1]])))
    merges.sort(key=lambda merge: -merge[2])
    return [(left, right) for left, right, _ in merges]


def test_bpe_merges_follow_the_reference_rule(trained):
    import random

    from workbench.tokenization.train_sentencepiece import bpe_merges

    processor = spm.SentencePieceProcessor(model_file=str(trained("sentencepiece_bpe", "roberta") / "sentencepiece.model"))
    ids = range(3, processor.get_piece_size())
    scored = [(processor.id_to_piece(i), processor.get_score(i)) for i in ids]
    vocab = {piece: index for index, (piece, _) in enumerate(scored)}
    merges = bpe_merges(vocab, scored)
    assert merges == _reference_bpe_merges(vocab, scored) and len(merges) > 1000
    shuffled = [(piece, float(random.Random(index).randrange(50))) for index, (piece, _) in enumerate(scored)]  # ties, any order
    assert bpe_merges(vocab, shuffled) == _reference_bpe_merges(vocab, shuffled)
