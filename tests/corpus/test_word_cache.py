"""The word-cache encoder gives exactly Tokenizer.encode_batch's ids, for every pipeline kind."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from workbench.corpus.cleaning import clean_line
from workbench.corpus.sentences import split_sentences
from workbench.corpus.word_cache import UnitEncoder, word_decomposable
from workbench.text.normalize import NormalizationSpec, build_normalizer
from workbench.tokenization.tokenizer import Tokenizer

from .conftest import _save, _training_lines


def _workbench_like_normalizer():
    """workbench's own normalizer (lowercasing too): the one every trained tokenizer saves."""
    return build_normalizer(NormalizationSpec(lowercase=True))


@pytest.fixture(scope="module")
def unigram_tokenizer(tmp_path_factory, prose_files) -> Tokenizer:
    backend = HFTokenizer(models.Unigram())
    backend.normalizer = _workbench_like_normalizer()
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.decoder = decoders.Metaspace()
    specials = {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>"}
    trainer = trainers.UnigramTrainer(vocab_size=1500, special_tokens=list(specials.values()), unk_token="<unk>", show_progress=False)
    backend.train_from_iterator(_training_lines(prose_files, 5000), trainer)
    return _save(backend, tmp_path_factory.mktemp("tok") / "uni", "roberta", "sentencepiece_unigram", specials)


@pytest.fixture(scope="module")
def units(prose_files) -> list[str]:
    out = []
    for path in prose_files[10:13]:
        for line in path.read_text("utf-8").splitlines()[:700]:
            cleaned = clean_line(line, "NFC")
            if cleaned:
                out.extend(split_sentences(cleaned))
    out += ["[MASK] au milieu [CLS]x", "<mask> et </s>", "«Guillemets» — tirets…", "chiffres 1 234,5 € 3%"]
    return out


def _check_parity(tokenizer: Tokenizer, units: list[str], max_entries: int) -> UnitEncoder:
    encoder = UnitEncoder(tokenizer, max_entries=max_entries)
    reference = tokenizer.encode_batch(units)
    flats, bounds = [], []
    for start in range(0, len(units), 500):  # several calls: the cache fills and is evicted
        flat, b = encoder.encode(units[start : start + 500])
        flats.append(flat)
        bounds.append(np.diff(b))
    assert np.array_equal(np.concatenate(bounds), [len(r) for r in reference])
    assert np.array_equal(np.concatenate(flats), np.fromiter(itertools.chain.from_iterable(reference), dtype=np.int64))
    return encoder


@pytest.mark.parametrize("max_entries", [1 << 14, 300])
def test_wordpiece_bert_pre_tokenizer_is_cached_and_exact(bert_tokenizer, units, max_entries):
    assert word_decomposable(bert_tokenizer)
    encoder = _check_parity(bert_tokenizer, units, max_entries)
    assert encoder.method == "word_cache"
    distinct = len(set(" ".join(units).split(" ")))
    if max_entries < distinct:
        assert len(encoder) < distinct  # evictions happened, ids unchanged


@pytest.mark.parametrize("max_entries", [1 << 14, 300])
def test_metaspace_unigram_with_workbench_normalizer_is_cached_and_exact(unigram_tokenizer, units, max_entries):
    assert word_decomposable(unigram_tokenizer)
    _check_parity(unigram_tokenizer, units, max_entries)


def test_byte_level_falls_back_to_encode_batch(roberta_tokenizer, units):
    assert not word_decomposable(roberta_tokenizer)  # "a b" != "a" + "b" for byte-level BPE (Ġ)
    encoder = _check_parity(roberta_tokenizer, units, 1 << 14)
    assert encoder.method == "encode_batch"


def test_unsafe_components_disable_the_cache(bert_tokenizer, tmp_path):
    pipeline = json.loads(bert_tokenizer.backend.to_str())
    cases = {
        "prepend": {"type": "Prepend", "prepend": "▁"},
        "replace_space": {"type": "Replace", "pattern": {"String": " "}, "content": "_"},
        "replace_regex_across": {"type": "Replace", "pattern": {"Regex": "a b"}, "content": "x"},
    }
    for name, normalizer in cases.items():
        pipeline["normalizer"] = normalizer
        folder = tmp_path / name
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps(pipeline), encoding="utf-8")
        tokenizer = Tokenizer(HFTokenizer.from_file(str(folder / "tokenizer.json")), bert_tokenizer.meta, folder)
        assert not word_decomposable(tokenizer), name


def _weak_hashes(codepoints, starts, ends):
    """A hash that collides on purpose: equal for all words of the same length."""
    return (ends - starts).astype(np.uint64)


def test_hash_collisions_never_change_the_ids(bert_tokenizer, units, monkeypatch):
    import workbench.corpus.word_cache as word_cache

    monkeypatch.setattr(word_cache, "word_hashes", _weak_hashes)
    encoder = _check_parity(bert_tokenizer, units, 1 << 14)
    assert encoder.collisions > 1000  # most occurrences met another word of their length in the cache
    assert len(encoder) <= max(len(w) for u in units for w in u.split(" ")) + 1  # one cached word per length


def test_encoders_teach_each_other_the_words_they_encoded(bert_tokenizer, units):
    first = UnitEncoder(bert_tokenizer, share=True)
    second = UnitEncoder(bert_tokenizer, share=True)
    half = len(units) // 2
    first.encode(units[:half])
    learned = first.learned()
    assert len(learned) == len(first) and len(first.learned()) == 0  # each word handed over once
    second.teach(learned)
    assert len(second) == len(first)
    second.teach(learned)  # already known: nothing added twice
    assert len(second) == len(first)
    flat, bounds = second.encode(units[:half])
    assert len(second.learned()) == 0  # every word came from the other encoder: no tokenizer call
    reference = bert_tokenizer.encode_batch(units[:half])
    assert flat.tolist() == list(itertools.chain.from_iterable(reference))
    assert np.diff(bounds).tolist() == [len(r) for r in reference]
    # a small cache taught many words evicts, ids unchanged
    small = UnitEncoder(bert_tokenizer, max_entries=300, share=True)
    small.teach(learned)
    assert len(small) <= 300
    _flat, _bounds = small.encode(units)
    assert _flat.tolist() == list(itertools.chain.from_iterable(bert_tokenizer.encode_batch(units)))


def test_an_encoder_that_does_not_share_keeps_nothing_for_others(bert_tokenizer, units):
    encoder = UnitEncoder(bert_tokenizer)
    encoder.encode(units[:200])
    assert len(encoder) > 0 and len(encoder.learned()) == 0


@pytest.mark.parametrize("algorithm,family", [("sentencepiece_bpe", "roberta"), ("wordpiece", "bert")])
def test_tokenizers_trained_by_workbench_are_cached_and_exact(tmp_path_factory, prose_files, units, algorithm, family):
    """What users prepare with: a vocabulary trained by workbench itself (its normalizer maps whitespace runs
    with ``WHITESPACE_RUN``) goes through the word cache, with exactly encode_batch's ids."""
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    folder = tmp_path_factory.mktemp("trained") / algorithm
    config = TokenizerConfig(name=algorithm, algorithm=algorithm, special_tokens=family, vocab_size=2000, sample_lines=5000)
    train_tokenizer(config, [SourceConfig(path=str(path)) for path in prose_files[:3]], folder)
    tokenizer = Tokenizer.load(folder)
    assert word_decomposable(tokenizer)
    assert _check_parity(tokenizer, units + ["a\u00a0b  c\td ", " \u202f?"], 300).method == "word_cache"
