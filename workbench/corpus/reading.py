"""The corpus as one ordered stream of raw documents over all its sources, and the up-front source check."""

from __future__ import annotations

from collections import Counter
from typing import Iterator, List

from workbench.corpus.config import CorpusConfig
from workbench.corpus.tokenize_docs import RawDoc
from workbench.text.sources import SourceError, iter_source_documents, resolve_files


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
