"""The block reader of prepare gives exactly the documents of workbench.text.sources, in order."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from workbench.corpus.config import CorpusConfig, SourceConfig
from workbench.corpus.reading import iter_raw_chunks, iter_raw_documents


@pytest.fixture()
def messy(tmp_path) -> Path:
    (tmp_path / "a.txt").write_bytes(
        b"l1\r\n\r\nl2 \xff bad\n\n\n  \npara a\npara b\n\xfe\n" + "é" .encode() * 70000 + b"\nlast, no newline"
    )
    with gzip.open(tmp_path / "b.txt.gz", "wb") as handle:
        handle.write("x\n\ny\nz\n".encode())
    return tmp_path


@pytest.mark.parametrize("boundary", ["line", "blank_line", "file"])
def test_same_documents_as_the_line_by_line_reader(messy, prose_dir, boundary):
    for path in (str(messy / "*"), str(prose_dir / "FRA0010*.txt")):
        corpus = CorpusConfig(name="t", sources=[SourceConfig(path=path)], document_boundary=boundary)
        reference = list(iter_raw_documents(corpus))
        chunks = list(iter_raw_chunks(corpus, 0, 5000))
        assert [doc for chunk in chunks for doc in chunk] == reference  # texts, order, undecodable counts
        assert [doc for chunk in iter_raw_chunks(corpus, 3, 5000) for doc in chunk] == reference[3:]
        if path.startswith(str(messy)):
            assert sum(doc[4] for doc in reference) == 2 and len(chunks) > 1


def test_max_documents_and_languages(messy):
    corpus = CorpusConfig(
        name="t",
        sources=[SourceConfig(path=str(messy / "a.txt"), language="fr"), SourceConfig(path=str(messy / "b.txt.gz"), language="en")],
        document_boundary="line",
        max_documents=8,
    )
    docs = [doc for chunk in iter_raw_chunks(corpus) for doc in chunk]
    assert [d[0] for d in docs] == list(range(8))
    assert [d[2] for d in docs] == [0] * 7 + [1] and docs[-1][1] == "x"
