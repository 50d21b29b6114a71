"""Bad input gives one clear error (a ValueError subclass) or a counted skip -- never a library traceback."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.tokenization.conftest import make_config
from workbench.config.choices import ConfigError
from workbench.corpus.config import SourceConfig
from workbench.text.sources import SourceError
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.errors import EmptyCorpusError, UnknownAlgorithmError, VocabularySizeError
from workbench.tokenization.tokenizer import Tokenizer, TokenizerError
from workbench.tokenization.train import train_tokenizer

ALGORITHMS = [
    ("wordpiece", "bert"),
    ("sentencepiece_bpe", "roberta"),
    ("sentencepiece_unigram", "roberta"),
    ("moses_bpe", "flaubert"),
    ("byte_bpe", "roberta"),
]


def _text(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return [SourceConfig(path=str(path))]


def test_empty_corpus(tmp_path):
    sources = _text(tmp_path, "empty.txt", b"\n   \n\t\n")
    with pytest.raises(EmptyCorpusError, match="corpus is empty.*empty.txt"):
        train_tokenizer(make_config("wordpiece", "bert"), sources, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("algorithm,family", ALGORITHMS)
def test_corpus_of_characters_the_normalizer_removes(tmp_path, algorithm, family):
    """Lines that are not blank but hold only control, invisible and format characters normalize to nothing:
    a clear error naming the file, not the library's (SentencePiece: "[!sentences_.empty()]")."""
    sources = _text(tmp_path, "controls.txt", "\x01\x02\n\u00ad\u200b\ufeff\n\x00 \x7f\n".encode())
    with pytest.raises(EmptyCorpusError, match=r"the 3 sampled lines of .*controls\.txt.* hold only characters the normalizer removes"):
        train_tokenizer(make_config(algorithm, family, vocab_size=100), sources, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_moses_corpus_without_tokens(tmp_path):
    """Private-use characters survive workbench's normalizer but not Moses' (FlauBERT removes category C*)."""
    sources = _text(tmp_path, "private.txt", "\ue000\ue001\n\ue002\n".encode())
    with pytest.raises(EmptyCorpusError, match=r"no Moses token in the 2 sampled lines"):
        train_tokenizer(make_config("moses_bpe", "flaubert", vocab_size=100), sources, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_no_sources(tmp_path):
    with pytest.raises(EmptyCorpusError, match="no corpus sources"):
        train_tokenizer(make_config("wordpiece", "bert"), [], tmp_path / "out")


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="matches no file"):
        train_tokenizer(make_config("wordpiece", "bert"), [SourceConfig(path=str(tmp_path / "nope*.txt"))], tmp_path / "o")


def _corrupt_archives(tmp_path):
    import bz2
    import gzip
    import lzma

    text = "".join(f"Le chat numéro {i} dort.\n" for i in range(5000)).encode()
    yield "not_gzip.txt.gz", b"plain text, not gzip\n"
    for suffix, compress in ((".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)):
        archive = compress(text)
        yield f"truncated.txt{suffix}", archive[: len(archive) // 2]
    yield "garbage.txt.xz", b"\xfd7zXZ\x00 garbage"


def test_corrupt_or_truncated_archives(tmp_path):
    """A corrupt or truncated .gz/.bz2/.xz gives one SourceError naming the file, from sampling (vocabulary
    training) and from corpus preparation alike; nothing is written."""
    from workbench.corpus.config import CorpusConfig
    from workbench.corpus.reading import iter_raw_documents

    for name, data in _corrupt_archives(tmp_path):
        sources = _text(tmp_path, name, data)
        with pytest.raises(SourceError, match=rf"corpus file .*{name}' cannot be read \(.*\); check that it is a valid"):
            train_tokenizer(make_config("sentencepiece_bpe", "roberta"), sources, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        with pytest.raises(SourceError, match=rf"{name}' cannot be read"):
            list(iter_raw_documents(CorpusConfig(sources=sources)))


@pytest.mark.parametrize("algorithm,family", [("wordpiece", "bert"), ("byte_bpe", "roberta")])
def test_vocabulary_smaller_than_the_alphabet(tmp_path, algorithm, family):
    sources = _text(tmp_path, "tiny.txt", "le lé la\n".encode())
    with pytest.raises(VocabularySizeError, match=r"vocab_size=8 is too small.* already take \d+ ids; raise tokenizer.vocab_size to at least"):
        train_tokenizer(make_config(algorithm, family, vocab_size=8, min_frequency=1), sources, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("algorithm,family", ALGORITHMS)
def test_unreachable_vocabulary_size(tmp_path, sample_sources, algorithm, family):
    config = make_config(algorithm, family, vocab_size=200_000)
    with pytest.raises(VocabularySizeError, match=r"vocab_size.*at most \d+") as error:
        train_tokenizer(config, sample_sources, tmp_path / "out")
    assert "Traceback" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_too_small_vocabulary_size(tmp_path, sample_sources):
    with pytest.raises(VocabularySizeError, match="too small"):
        train_tokenizer(make_config("byte_bpe", "roberta", vocab_size=100), sample_sources, tmp_path / "out")


def test_unknown_algorithm(tmp_path, sample_sources):
    with pytest.raises(ConfigError, match="tokenizer.algorithm='unigram' is not valid; choose one of"):
        TokenizerConfig(name="x", algorithm="unigram")
    config = make_config("wordpiece", "bert")
    object.__setattr__(config, "algorithm", "unigram")  # bypassing validation still gives a clear error
    with pytest.raises(UnknownAlgorithmError, match="choose one of"):
        train_tokenizer(config, sample_sources, tmp_path / "out")


def test_moses_settings_that_flaubert_cannot_reproduce_are_refused():
    with pytest.raises(ConfigError, match="NFC"):
        TokenizerConfig(name="x", algorithm="moses_bpe", unicode_normalization="NFKC")
    with pytest.raises(ConfigError, match="strip_accents"):
        TokenizerConfig(name="x", algorithm="moses_bpe", strip_accents=True)


def test_undecodable_bytes_nul_and_huge_line_are_counted(tmp_path, sample_sources):
    good = "".join(open(p, encoding="utf-8").read() for p in sorted(__import__("glob").glob(sample_sources[0].path)))
    dirty = good.encode("utf-8") + b"caf\xe9 cr\xe8me \xff\n" + b"avec\x00nul\x00\n" + b"a" * 10_000_000 + b"\n"
    sources = _text(tmp_path, "dirty.txt", dirty)
    config = dataclasses.replace(make_config("sentencepiece_bpe", "roberta"), max_line_chars=100_000)
    folder = train_tokenizer(config, sources, tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sample"]["skipped"]["overlong"] == 1
    assert manifest["sample"]["repaired"] == {"undecodable_lines": 1, "lines_with_nul": 1}
    tok = Tokenizer.load(folder)
    assert tok.encode("avec\x00nul") == tok.encode("avecnul")  # NUL removed by the saved normalizer
    assert "\x00" not in "".join(tok.backend.get_vocab())


def test_failed_retraining_keeps_the_previous_folder(tmp_path, sample_sources):
    out = tmp_path / "out"
    train_tokenizer(make_config("wordpiece", "bert", vocab_size=1000), sample_sources, out)
    before = (out / "tokenizer.json").read_bytes()
    with pytest.raises(VocabularySizeError):
        train_tokenizer(make_config("wordpiece", "bert", vocab_size=500_000), sample_sources, out)
    assert (out / "tokenizer.json").read_bytes() == before
    assert Tokenizer.load(out).vocab_size == 1000


def test_loading_an_unfinished_folder(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TokenizerError, match="not a finished tokenizer folder"):
        Tokenizer.load(tmp_path / "half")
    (tmp_path / "half" / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(TokenizerError, match="workbench_tokenizer.json"):
        Tokenizer.load(tmp_path / "half")


@pytest.mark.parametrize("encoding,name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_utf16_and_utf32_files_are_refused_by_name(tmp_path, encoding, name):
    """Read as UTF-8 they would be lines of replacement characters and NULs, trained on silently."""
    from workbench.corpus.config import CorpusConfig
    from workbench.corpus.reading import iter_raw_documents

    text = "Bonjour le monde\nLe chat dort\n"
    data = ("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding)
    sources = _text(tmp_path, "wide.txt", data)
    with pytest.raises(SourceError, match=rf"wide\.txt' is {name} .*convert it, e\.g\. iconv -f {name} -t UTF-8"):
        train_tokenizer(make_config("sentencepiece_bpe", "roberta", vocab_size=50), sources, tmp_path / "out")
    with pytest.raises(SourceError, match=rf"is {name}"):
        list(iter_raw_documents(CorpusConfig(sources=sources)))
    assert not (tmp_path / "out").exists()
    # a UTF-8 byte-order mark is fine (the normalizer removes U+FEFF)
    from workbench.text.sources import iter_file_lines

    utf8_with_mark = Path(_text(tmp_path, "bom8.txt", ("\ufeff" + text).encode())[0].path)
    assert list(iter_file_lines(utf8_with_mark)) == ["\ufeffBonjour le monde", "Le chat dort"]


@pytest.mark.parametrize("value,kind", [("12", "a number"), ("null", None), ('["a"]', "an array"), ('{"a": 1}', "an object"), ("true", "a boolean")])
def test_jsonl_text_field_that_is_not_a_string(tmp_path, value, kind):
    sources = [SourceConfig(path=str(_text(tmp_path, "records.jsonl", f'{{"text": "Bonjour le monde"}}\n{{"text": {value}}}\n'.encode())[0].path), kind="jsonl")]
    from workbench.text.sources import iter_source_lines

    if kind is None:  # a null text is an empty record, left out
        assert list(iter_source_lines(sources[0])) == ["Bonjour le monde"]
        return
    with pytest.raises(SourceError, match=rf"records\.jsonl:2: field 'text' holds {kind} \(.*\), not a string"):
        train_tokenizer(make_config("sentencepiece_bpe", "roberta", vocab_size=50), sources, tmp_path / "out")
