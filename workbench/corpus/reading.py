"""The corpus as one ordered stream of raw documents over all its sources, and the up-front source check."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from workbench.corpus.config import CorpusConfig, SourceConfig
from workbench.corpus.tokenize_docs import RawDoc
from workbench.text.sources import SourceError, iter_source_documents, open_binary, resolve_files


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


# ------------------------------------------------------------------------------------------------ fast path
BLOCK_BYTES = 1 << 18  # 256 KiB: the transient text of one block stays small


def _decode_block(block: bytes) -> Tuple[List[str], Optional[List[int]]]:
    """Lines of a block of whole lines (same as decoding line by line: bad bytes replaced, flagged per line)."""
    try:
        text = block.decode("utf-8")
        flags = None
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines, flags = [], []
        for raw in block.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
                flags.append(0)
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                flags.append(1)
    if block.endswith(b"\n"):  # the empty string after the last newline is not a line
        lines.pop()
        if flags is not None:
            flags.pop()
    if b"\r" in block:
        lines = [line.rstrip("\r\n") for line in lines]
    return lines, flags


def iter_file_line_blocks(path: Path) -> Iterator[Tuple[List[str], Optional[List[int]]]]:
    """The lines of a (possibly compressed) text file in blocks of about 256 KiB: ``(lines, undecodable flags)``.

    Same lines as ``workbench.text.sources.iter_file_lines`` (split on b"\\n", trailing "\\r" removed, bytes
    that are not UTF-8 replaced), without a Python generator step per line.
    """
    try:
        handle = open_binary(path)
    except FileNotFoundError:
        raise SourceError(f"corpus file {str(path)!r} does not exist") from None
    with handle:
        rest = b""
        while True:
            data = handle.read(BLOCK_BYTES)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            yield _decode_block(data[: cut + 1])
        if rest:
            yield _decode_block(rest)


def _iter_text_documents(source: SourceConfig, boundary: str) -> Iterator[Tuple[str, int]]:
    """(text, undecodable lines) of the documents of a plain-text source: the documents of
    ``iter_source_documents`` (same texts, same order), read in blocks."""
    for path in resolve_files(source.path):
        pending: List[str] = []
        pending_bad = 0
        for lines, flags in iter_file_line_blocks(path):
            if boundary == "line":
                if flags is None:
                    yield from ((line, 0) for line in lines if line.strip())
                else:
                    yield from ((line, bad) for line, bad in zip(lines, flags) if line.strip())
                continue
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


def iter_raw_chunks(corpus: CorpusConfig, skip: int = 0, chunk_chars: int = 1 << 18) -> Iterator[List[RawDoc]]:
    """The documents of ``iter_raw_documents`` from position ``skip`` on, grouped in chunks of about
    ``chunk_chars`` characters (whole documents)."""
    languages = corpus_languages(corpus)
    limit = corpus.max_documents
    index = 0
    chunk: List[RawDoc] = []
    size = 0
    for source_position, source in enumerate(corpus.sources):
        lang_id = languages.index(source.language)
        if source.kind == "text":
            documents: Iterator[Tuple[str, int]] = _iter_text_documents(source, corpus.document_boundary)
        else:
            documents = ((text, bad) for _i, text, _l, _s, bad in _single_source_documents(corpus, source))
        for text, bad in documents:
            if limit is not None and index >= limit:
                break
            if index >= skip:
                chunk.append((index, text, lang_id, source_position, bad))
                size += len(text)
                if size >= chunk_chars:
                    yield chunk
                    chunk, size = [], 0
            index += 1
    if chunk:
        yield chunk


def _single_source_documents(corpus: CorpusConfig, source: SourceConfig) -> Iterator[RawDoc]:
    stats: Counter = Counter()
    seen_undecodable = 0
    for document in iter_source_documents(source, corpus.document_boundary, stats):
        undecodable = stats["undecodable_lines"] - seen_undecodable
        seen_undecodable = stats["undecodable_lines"]
        yield (0, document.text, 0, 0, undecodable)
