"""The corpus as one ordered stream of raw documents over all its sources, and the up-front source check."""

from __future__ import annotations

from collections import Counter
from itertools import compress
from typing import Iterator, List, Optional, Tuple

import numpy as np

from workbench.corpus.config import CorpusConfig, SourceConfig
from workbench.corpus.tokenize_docs import RawChunk, RawDoc
from workbench.text.sources import SourceError, iter_file_line_blocks, iter_source_documents, resolve_files


def corpus_languages(corpus: CorpusConfig) -> List[str]:
    """Languages in order of first appearance among the sources; a language's id is its position."""
    languages: List[str] = []
    for source in corpus.sources:
        if source.language not in languages:
            languages.append(source.language)
    return languages


def check_sources(corpus: CorpusConfig) -> None:
    """Fail before any work when a source is missing or unreachable (one clear line naming it)."""
    if not corpus.sources:
        raise SourceError(f"corpus {corpus.name!r} has no sources; add at least one under corpus.sources")
    for source in corpus.sources:
        if source.kind in ("text", "jsonl"):
            resolve_files(source.path)
        else:
            # datasets: opening the stream is what reaches the hub (or the local copy); pull one document
            stream = iter_source_documents(source, corpus.document_boundary, Counter())
            next(stream, None)
            stream.close()


def iter_raw_documents(corpus: CorpusConfig) -> Iterator[RawDoc]:
    """(index, text, lang_id, source position, undecodable lines read for it) for every document, in order."""
    languages = corpus_languages(corpus)
    index = 0
    limit = corpus.max_documents
    for source_position, source in enumerate(corpus.sources):
        lang_id = languages.index(source.language)
        stats: Counter = Counter()
        seen_undecodable = 0
        for document in iter_source_documents(source, corpus.document_boundary, stats):
            if limit is not None and index >= limit:
                return
            undecodable = stats["undecodable_lines"] - seen_undecodable
            seen_undecodable = stats["undecodable_lines"]
            yield (index, document.text, lang_id, source_position, undecodable)
            index += 1


DocumentBatch = Tuple[List[str], Optional[List[int]]]  # texts, undecodable lines of each (None: all 0)
BATCH_DOCUMENTS = 1024  # documents per batch for sources read one document at a time


def _batched(documents: Iterator[Tuple[str, int]]) -> Iterator[DocumentBatch]:
    texts: List[str] = []
    bad: List[int] = []
    for text, undecodable in documents:
        texts.append(text)
        bad.append(undecodable)
        if len(texts) >= BATCH_DOCUMENTS:
            yield texts, bad
            texts, bad = [], []
    if texts:
        yield texts, bad


def _iter_text_documents(source: SourceConfig, boundary: str) -> Iterator[Tuple[str, int]]:
    """(text, undecodable lines) of the documents of a plain-text source (blank_line and file boundaries):
    the documents of ``iter_source_documents`` (same texts, same order), read in blocks."""
    for path in resolve_files(source.path):
        pending: List[str] = []
        pending_bad = 0
        for lines, flags in iter_file_line_blocks(path):
            for position, line in enumerate(lines):
                if flags is not None:
                    pending_bad += flags[position]
                if not line.strip():
                    if boundary == "blank_line" and pending:
                        yield "\n".join(pending), pending_bad
                        pending, pending_bad = [], 0
                    continue
                pending.append(line)
        if pending:
            yield "\n".join(pending), pending_bad


def _iter_line_batches(source: SourceConfig) -> Iterator[DocumentBatch]:
    """The documents of a plain-text source with one document per line, a block of lines at a time (blank
    lines are no documents), without a Python step per line."""
    for path in resolve_files(source.path):
        for lines, flags in iter_file_line_blocks(path):
            content = list(map(str.strip, lines))
            if flags is None:
                yield list(compress(lines, content)), None
            else:
                yield list(compress(lines, content)), list(compress(flags, content))


def _document_batches(corpus: CorpusConfig, source: SourceConfig) -> Iterator[DocumentBatch]:
    if source.kind == "text" and corpus.document_boundary == "line":
        return _iter_line_batches(source)
    if source.kind == "text":
        return _batched(_iter_text_documents(source, corpus.document_boundary))
    return _batched((text, bad) for _i, text, _l, _s, bad in _single_source_documents(corpus, source))


class _ChunkBuilder:
    def __init__(self, first_index: int) -> None:
        self.first_index = first_index
        self.texts: List[str] = []
        self.lang_ids: List[int] = []
        self.source_ids: List[int] = []
        self.undecodable: List[int] = []
        self.chars = 0

    def add(self, texts: List[str], bad: Optional[List[int]], lang_id: int, source_id: int, chars: int) -> None:
        self.texts += texts
        self.lang_ids += [lang_id] * len(texts)
        self.source_ids += [source_id] * len(texts)
        self.undecodable += bad if bad is not None else [0] * len(texts)
        self.chars += chars

    def build(self) -> RawChunk:
        return RawChunk(
            self.first_index,
            self.texts,
            np.array(self.lang_ids, dtype=np.int64),
            np.array(self.source_ids, dtype=np.int64),
            np.array(self.undecodable, dtype=np.int64),
        )


def iter_raw_chunks(corpus: CorpusConfig, skip: int = 0, chunk_chars: int = 1 << 18) -> Iterator[RawChunk]:
    """The documents of ``iter_raw_documents`` from position ``skip`` on, grouped in chunks of whole
    documents: a chunk ends with the document that brings it to ``chunk_chars`` characters."""
    languages = corpus_languages(corpus)
    limit = corpus.max_documents
    index = 0  # position of the next document of the stream
    chunk = _ChunkBuilder(skip)
    for source_position, source in enumerate(corpus.sources):
        lang_id = languages.index(source.language)
        for texts, bad in _document_batches(corpus, source):
            end = len(texts) if limit is None else min(len(texts), limit - index)
            start = min(max(0, skip - index), end)  # documents before ``skip`` are not read again
            while start < end:
                lengths = np.cumsum(np.fromiter(map(len, texts[start:end]), dtype=np.int64, count=end - start)) + chunk.chars
                full = int(np.searchsorted(lengths, chunk_chars, side="left"))  # first document reaching the size
                stop = start + min(full + 1, end - start)
                chunk.add(texts[start:stop], None if bad is None else bad[start:stop], lang_id, source_position, int(lengths[stop - start - 1]) - chunk.chars)
                if chunk.chars >= chunk_chars:
                    yield chunk.build()
                    chunk = _ChunkBuilder(index + stop)
                start = stop
            index += end
            if limit is not None and index >= limit:
                break
        if limit is not None and index >= limit:
            break
    if chunk.texts:
        yield chunk.build()


def _single_source_documents(corpus: CorpusConfig, source: SourceConfig) -> Iterator[RawDoc]:
    stats: Counter = Counter()
    seen_undecodable = 0
    for document in iter_source_documents(source, corpus.document_boundary, stats):
        undecodable = stats["undecodable_lines"] - seen_undecodable
        seen_undecodable = stats["undecodable_lines"]
        yield (0, document.text, 0, 0, undecodable)
