"""Training every algorithm: ids of special tokens, exact size, accents, determinism, artefacts, manifest."""

from __future__ import annotations

import json
import re

import pytest
import sentencepiece as spm

from tests.tokenization.conftest import make_config
from workbench.tokenization.tokenizer import Tokenizer
from workbench.tokenization.train import train_tokenizer

ALL = [
    ("wordpiece", "bert"),
    ("sentencepiece_bpe", "roberta"),
    ("sentencepiece_unigram", "roberta"),
    ("moses_bpe", "flaubert"),
    ("byte_bpe", "roberta"),
]

EXPECTED_IDS = {
    "bert": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4},
    "roberta": {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3},
    "flaubert": {"<s>": 0, "</s>": 1, "<pad>": 2, "<unk>": 3, **{f"<special{i}>": 4 + i for i in range(10)}},
}
FRENCH = "Élève, l'hôpital où Noël ça ÉTÉ garçon œuvre à côté"


@pytest.mark.parametrize("algorithm,family", ALL)
def test_special_tokens_at_their_ids_and_exact_size(trained, algorithm, family):
    tok = Tokenizer.load(trained(algorithm, family))
    assert tok.vocab_size == 3000
    for token, index in EXPECTED_IDS[family].items():
        assert tok.token_to_id(token) == index
    if family == "roberta":
        assert tok.token_to_id("<mask>") == tok.vocab_size - 1 == tok.mask_id
        assert (tok.cls_id, tok.pad_id, tok.sep_id, tok.unk_id) == (0, 1, 2, 3)
    if family == "flaubert":
        assert tok.mask_id == 5 and (tok.cls_id, tok.sep_id, tok.pad_id, tok.unk_id) == (0, 1, 2, 3)
    if family == "bert":
        assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert max(tok.encode(FRENCH)) < tok.vocab_size


@pytest.mark.parametrize("algorithm,family", ALL)
def test_accents_survive(trained, algorithm, family):
    tok = Tokenizer.load(trained(algorithm, family))
    ids = tok.encode(FRENCH)
    assert tok.unk_id not in ids
    decoded = tok.decode(ids)
    for word in ("Élève", "hôpital", "Noël", "ça", "ÉTÉ", "garçon", "œuvre", "côté"):
        assert word in decoded.replace(" ", "") or word in decoded, (word, decoded)
    if algorithm in ("sentencepiece_bpe", "sentencepiece_unigram", "byte_bpe"):
        assert decoded == FRENCH  # lossless after normalization (which leaves this text unchanged)


def test_character_coverage_drops_only_rare_characters(trained):
    tok = Tokenizer.load(trained("wordpiece", "bert", character_coverage=0.9999))
    # Î occurs once in ~130k characters: below the 0.9999 cut, so Île is an unknown word; é is kept
    assert tok.encode("Île") == [tok.unk_id]
    assert tok.meta["alphabet_size"] < Tokenizer.load(trained("wordpiece", "bert")).meta["alphabet_size"]
    assert tok.unk_id not in tok.encode("élève à côté")
    manifest = json.loads((tok.directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["character_coverage"] == 0.9999


def test_uncased_wordpiece_keeps_accents(trained):
    tok = Tokenizer.load(trained("wordpiece", "bert", lowercase=True))
    pieces = tok.tokenize("ÉTÉ À L’HÔPITAL")
    assert "".join(piece.removeprefix("##") for piece in pieces) == "étéàl'hôpital"
    assert tok.normalize("ÉTÉ À L’HÔPITAL") == "été à l'hôpital"
    stripped = Tokenizer.load(trained("wordpiece", "bert", lowercase=True, strip_accents=True))
    assert stripped.normalize("ÉTÉ À L’HÔPITAL") == "ete a l'hopital"


def test_apostrophe_variants_encode_identically(trained):
    for algorithm, family in ALL:
        tok = Tokenizer.load(trained(algorithm, family))
        assert tok.encode("l’hôpital qu’il") == tok.encode("l'hôpital qu'il"), algorithm


def test_nbsp_before_punctuation_is_a_space(trained):
    for algorithm, family in ALL:
        tok = Tokenizer.load(trained(algorithm, family))
        assert tok.encode("Quoi\u00a0? Oui\u202f!") == tok.encode("Quoi ? Oui !"), algorithm


@pytest.mark.parametrize("algorithm,family", ALL)
def test_same_inputs_and_seed_give_identical_vocabulary(tmp_path, sample_sources, algorithm, family):
    # The `tokenizers` trainers break ties between merges by hash-map order unless workbench pins the ids of
    # the alphabet (wordpiece, moses_bpe): a second training in the same process is the sensitive check.
    if True:
        config = make_config(algorithm, family, vocab_size=2000)
        a = train_tokenizer(config, sample_sources, tmp_path / f"{algorithm}-a")
        b = train_tokenizer(config, sample_sources, tmp_path / f"{algorithm}-b")
        assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes(), algorithm
        sample_a = json.loads((a / "manifest.json").read_text())["sample"]["sample_sha256"]
        sample_b = json.loads((b / "manifest.json").read_text())["sample"]["sample_sha256"]
        assert sample_a == sample_b
        if algorithm.startswith("sentencepiece"):
            assert (a / "sentencepiece.model").read_bytes() == (b / "sentencepiece.model").read_bytes()


def test_manifest_is_complete_and_last(trained):
    folder = trained("sentencepiece_bpe", "roberta")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["artifact"] == "tokenizer"
    assert manifest["config"]["algorithm"] == "sentencepiece_bpe" and manifest["seed"] == 0
    assert manifest["vocab_size"] == 3000
    assert len(manifest["sample"]["sample_sha256"]) == 64 and manifest["sample"]["sample_lines"] > 500
    assert manifest["libraries"]["sentencepiece"] and manifest["libraries"]["tokenizers"]
    for name, size in manifest["files"].items():
        assert (folder / name).stat().st_size == size
    newest_other = max(p.stat().st_mtime_ns for p in folder.iterdir() if p.name != "manifest.json")
    assert (folder / "manifest.json").stat().st_mtime_ns >= newest_other
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_sentencepiece_native_model_and_fairseq_dict(trained):
    folder = trained("sentencepiece_bpe", "roberta")
    tok = Tokenizer.load(folder)
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    assert processor.get_piece_size() == tok.vocab_size - 2  # spm's <unk> <s> </s> vs our 4 + <mask>
    rows = (folder / "dict.txt").read_text(encoding="utf-8").splitlines()
    assert len(rows) == tok.vocab_size - 5
    # fairseq's Dictionary: <s> <pad> </s> <unk> then dict.txt in order, <mask> appended last
    fairseq = ["<s>", "<pad>", "</s>", "<unk>"] + [row.split(" ")[0] for row in rows] + ["<mask>"]
    assert fairseq == [tok.id_to_token(i) for i in range(tok.vocab_size)]
    counts = [int(row.split(" ")[1]) for row in rows]
    assert sum(counts) > 0 and all(count >= 0 for count in counts)


def test_fairseq_dict_without_counts(trained):
    folder = trained("sentencepiece_unigram", "roberta", fairseq_dict_counts=False)
    counted = (trained("sentencepiece_unigram", "roberta") / "dict.txt").read_text(encoding="utf-8").splitlines()
    rows = (folder / "dict.txt").read_text(encoding="utf-8").splitlines()
    assert [row.split(" ")[0] for row in rows] == [row.split(" ")[0] for row in counted]
    assert {row.split(" ")[1] for row in rows} == {"100"}


def test_moses_native_files(trained):
    folder = trained("moses_bpe", "flaubert")
    tok = Tokenizer.load(folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == tok.backend.get_vocab(with_added_tokens=True)
    merges = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
    codes = (folder / "codes").read_text(encoding="utf-8").splitlines()
    assert [line.rsplit(" ", 1)[0] for line in codes] == merges
    xlm_vocab = (folder / "vocab").read_text(encoding="utf-8").splitlines()
    assert len(xlm_vocab) == tok.vocab_size - 14  # XLM's dictionary adds its 14 specials itself
    first = xlm_vocab[0].split(" ")[0]
    token = tok.id_to_token(14)
    assert first == (token[:-4] if token.endswith("</w>") else token + "@@")


def test_wordpiece_vocab_txt_matches_ids(trained):
    folder = trained("wordpiece", "bert")
    tok = Tokenizer.load(folder)
    rows = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert rows == [tok.id_to_token(i) for i in range(tok.vocab_size)]


def test_build_inputs_per_family(trained):
    bert = Tokenizer.load(trained("wordpiece", "bert"))
    ids, types = bert.build_inputs([10, 11], [12])
    assert ids == [2, 10, 11, 3, 12, 3] and types == [0, 0, 0, 0, 1, 1]
    roberta = Tokenizer.load(trained("sentencepiece_bpe", "roberta"))
    ids, types = roberta.build_inputs([10], [12])
    assert ids == [0, 10, 2, 2, 12, 2] and types == [0] * 6
    flaubert = Tokenizer.load(trained("moses_bpe", "flaubert"))
    ids, types = flaubert.build_inputs([20], [21])
    assert ids == [0, 20, 1, 21, 1] and types == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("algorithm", ["sentencepiece_bpe", "sentencepiece_unigram"])
def test_fairseq_dict_counts_are_the_pieces_of_the_encoded_sample(trained, sample_sources, algorithm):
    """dict.txt is what fairseq-preprocess builds from the sample encoded by spm_encode: each piece with its
    number of occurrences (workbench counts BPE pieces per distinct word: the same numbers)."""
    from collections import Counter

    from tests.tokenization.conftest import make_config
    from workbench.text.normalize import normalize_lines
    from workbench.text.sampling import sample_lines
    from workbench.tokenization.assemble import normalization_spec

    folder = trained(algorithm, "roberta")
    config = make_config(algorithm, "roberta")
    sample = sample_lines(sample_sources, config.sample_lines, config.seed, max_line_chars=config.max_line_chars)
    normalized = [line for line in normalize_lines(sample.lines, normalization_spec(config)) if line]
    processor = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    expected: Counter = Counter()
    for pieces in processor.encode(normalized, out_type=str):  # spm_encode --output_format=piece, line by line
        expected.update(pieces)
    rows = [row.rsplit(" ", 1) for row in (folder / "dict.txt").read_text(encoding="utf-8").splitlines()]
    assert {piece: int(count) for piece, count in rows} == {piece: expected.get(piece, 0) for piece, _ in rows}
    assert sum(int(count) for _, count in rows) > 10_000


def test_character_counts_equal_a_counter(prose_lines):
    """The numpy character count behind WordPiece's alphabet equals counting character by character, for
    accented, astral (emoji, CJK extension) and lone-surrogate characters."""
    from collections import Counter

    from workbench.tokenization.assemble import CharacterCounts

    texts = ["\n".join(prose_lines[:500]), "l'hôpital 😀 𠀀 \ud800 ÉÉ", "", "a\nb  c"]
    counts, expected = CharacterCounts(), Counter()
    for text in texts:
        counts.add(text)
        expected.update(text)
    for excluded in (" ", "\n"):
        expected.pop(excluded)
    assert counts.as_counter(exclude=" \n") == expected
    assert expected["😀"] == 1 and expected["\ud800"] == 1 and expected["É"] >= 2


def test_fairseq_dict_rows_and_refused_tokens(tmp_path):
    import numpy as np

    from workbench.tokenization.fairseq_dict import write_dict_rows
    from workbench.tokenization.families import get_family

    family = get_family("roberta")
    tokens = [*family.leading, "▁le", "s", *family.trailing]
    write_dict_rows(tmp_path, tokens, np.arange(len(tokens)), family)
    assert (tmp_path / "dict.txt").read_text(encoding="utf-8") == "▁le 4\ns 5\n"
    for bad in ("a b", "", "x\u00a0"):
        with pytest.raises(ValueError, match=re.escape(f"token {bad!r} (id 5) cannot be written")):
            write_dict_rows(tmp_path / "bad", [*family.leading, "▁le", bad, *family.trailing], np.ones(7), family)
    assert not (tmp_path / "bad").exists()
