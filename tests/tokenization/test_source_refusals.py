"""Sources that would silently give garbage or nothing are refused (or counted) naming the file: UTF-16 without a
byte-order mark, files mostly not UTF-8, null jsonl texts, empty corpora behind a glob, symlink loops."""

from __future__ import annotations

import json
import logging
import os

import pytest

from tests.tokenization.conftest import make_config
from workbench.corpus.config import SourceConfig
from workbench.text import sources as src
from workbench.text.sources import SourceError, iter_file_line_blocks, iter_file_lines, iter_source_lines, resolve_files
from workbench.tokenization.errors import EmptyCorpusError
from workbench.tokenization.train import train_tokenizer

FRENCH = "Le chat dort sur le canapé.\nÉté comme hiver, il pleut à Brest.\n" * 40


def _both_readers(path):
    return [lambda: list(iter_file_lines(path)), lambda: list(iter_file_line_blocks(path))]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_byte_order_mark_are_refused(tmp_path, encoding):
    path = tmp_path / "wide.txt"
    path.write_bytes(FRENCH.encode(encoding))  # python's -le/-be codecs write no BOM
    assert not path.read_bytes().startswith((b"\xff\xfe", b"\xfe\xff"))
    name = encoding.upper().replace("-LE", "LE").replace("-BE", "BE")
    for read in _both_readers(path):
        with pytest.raises(SourceError, match=rf"wide\.txt' looks like {name} without a byte-order mark.*iconv -f {name} -t UTF-8"):
            read()


def test_utf8_text_with_a_few_nul_bytes_is_not_mistaken_for_utf16(tmp_path):
    path = tmp_path / "nul.txt"
    path.write_bytes(FRENCH.encode() + b"a\x00b\x00\n")
    assert len(iter_file_lines(path).__next__()) > 0 and len(list(iter_file_lines(path))) == 81


def test_nul_pattern_thresholds():
    assert src._guess_bomless("Bonjour à tous".encode("utf-16-le")) == "UTF-16LE"
    assert src._guess_bomless(FRENCH.encode()) is None
    assert src._guess_bomless(b"\x00" * 64) is None  # all NUL: no alternation, not text either way
    assert src._guess_bomless("abc".encode("utf-16-le")) is None  # under 16 bytes: too little to tell


def test_a_file_mostly_not_utf8_is_refused_naming_it(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(FRENCH.encode("latin-1"))  # every line has an accent: every line is undecodable
    for read in _both_readers(latin1):
        with pytest.raises(SourceError, match=r"latin1\.txt' is not UTF-8: 80 of its 80 lines .*iconv -f LATIN1 -t UTF-8"):
            read()
    # stopped at the first 1000 lines of a long file, before reading the rest
    long = tmp_path / "long.txt"
    long.write_bytes(("caf\xe9\n" * 3000).encode("latin-1"))
    with pytest.raises(SourceError, match=r"1000 of its first 1000 lines"):
        list(iter_file_lines(long))
    # a minority of bad lines (here a half exactly: the limit is more than half) is still replaced and counted
    half = tmp_path / "half.txt"
    half.write_bytes(b"caf\xe9\nbonjour\n" * 10)
    stats = __import__("collections").Counter()
    assert len(list(iter_file_lines(half, stats))) == 20 and stats["undecodable_lines"] == 10


def test_null_texts_are_counted_in_the_manifest_and_logged(tmp_path, caplog):
    path = tmp_path / "records.jsonl"
    records = [{"text": line} for line in FRENCH.splitlines()] + [{"text": None}] * 3
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    source = SourceConfig(path=str(path), kind="jsonl")
    stats = __import__("collections").Counter()
    with caplog.at_level(logging.WARNING, logger="workbench.text.sources"):
        assert len(list(iter_source_lines(source, stats))) == 80
    assert stats["null_records"] == 3
    assert "records.jsonl: 3 records with text null skipped" in caplog.text
    train_tokenizer(make_config("wordpiece", "bert", vocab_size=85), [source], tmp_path / "tok")
    manifest = json.loads((tmp_path / "tok" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sample"]["skipped"]["null_records"] == 3


def test_empty_corpus_and_control_characters_only_name_the_files_behind_a_glob(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "blank.txt").write_bytes(b"\n  \n")
    sources = [SourceConfig(path=str(tmp_path / "data" / "*.txt"))]
    with pytest.raises(EmptyCorpusError, match=r"corpus is empty.*data/blank\.txt"):
        train_tokenizer(make_config("wordpiece", "bert"), sources, tmp_path / "out")
    (tmp_path / "data" / "blank.txt").write_bytes("\x01\x02\n\u200b\n".encode())
    with pytest.raises(EmptyCorpusError, match=r"sampled lines of .*data/blank\.txt.* hold only characters"):
        train_tokenizer(make_config("wordpiece", "bert"), sources, tmp_path / "out")


def test_symlink_loop_is_reported_as_a_loop(tmp_path):
    os.symlink(tmp_path / "b.txt", tmp_path / "a.txt")
    os.symlink(tmp_path / "a.txt", tmp_path / "b.txt")
    with pytest.raises(SourceError, match=r"a\.txt' is a symlink loop"):
        resolve_files(str(tmp_path / "a.txt"))
    with pytest.raises(SourceError, match=r"is a symlink loop"):
        resolve_files(str(tmp_path / "*.txt"))
    os.symlink(tmp_path / "gone.txt", tmp_path / "dangling.txt")
    with pytest.raises(SourceError, match=r"dangling\.txt' is a broken symlink \(its target .*gone\.txt"):
        resolve_files(str(tmp_path / "dangling.txt"))
