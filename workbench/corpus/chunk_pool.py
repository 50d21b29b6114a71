"""The worker steps of ``prepare`` (clean, tokenize: ``process_chunk``) over a stream of chunks, in processes.

``process_chunks`` yields the results in input order; each depends on its chunk alone, so who processed
what never shows and the shards are byte-identical whatever ``workers``. With ``workers == 1`` this
process runs them; otherwise this process and ``workers - 1`` helpers do (see ``process_chunks``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import deque
from multiprocessing.pool import AsyncResult
from typing import Deque, Iterable, Iterator

from workbench.corpus.tokenize_docs import ChunkResult, RawChunk, WorkSettings, init_worker, process_chunk, process_in_worker
from workbench.corpus.word_cache import UnitEncoder
from workbench.tokenization.tokenizer import Tokenizer


@contextlib.contextmanager
def single_threaded_tokenizers() -> Iterator[None]:
    """num_workers processes, each tokenizing on one thread: the Rust thread pool of `tokenizers` adds
    nothing on small calls (the word cache makes them small) and its per-thread heaps make the peak
    memory erratic. Restores the caller's setting afterwards."""
    previous = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = previous


def process_chunks(chunks: Iterable[RawChunk], settings: WorkSettings, tokenizer: Tokenizer, workers: int, backlog: int) -> Iterator[ChunkResult]:
    """``process_chunk`` of every chunk, in input order, in ``workers`` processes (``backlog`` chunks queued
    per helper process before this one processes a chunk itself)."""
    encoder = UnitEncoder(tokenizer, settings.cache_entries, share=workers > 1)
    if workers == 1:
        with single_threaded_tokenizers():
            for chunk in chunks:
                yield process_chunk(chunk, settings, encoder)
        return
    # num_workers processes tokenize: this one and num_workers - 1 helpers. Each helper keeps up to
    # ``backlog`` chunks queued; when all are that busy, this process (which also packs and writes)
    # processes the next chunk itself, so the load balances whatever the cost of packing. Results are
    # consumed in input order and depend on the chunk alone: who processed what never shows. The word
    # caches teach each other the words they encode: a helper's come back with its results, this
    # process's go with the next task (with one helper, a distinct word goes through the tokenizer
    # about once in the pool; the ids never depend on what a cache holds).
    # fork: works from any script (spawn would need a __main__ guard); tokenizers turns its thread pool
    # off in forked children, which is what one-process-per-core wants anyway
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    helpers = workers - 1
    queued = backlog * helpers
    read_ahead = 2 * queued + 2  # chunks in memory at most: bounded whatever the corpus size
    with single_threaded_tokenizers():
        pool = context.Pool(helpers, initializer=init_worker, initargs=(settings, tokenizer))
        try:
            queue: Deque = deque()  # ChunkResult (processed here) or AsyncResult (a helper's), input order
            for chunk in chunks:
                busy = sum(1 for item in queue if isinstance(item, AsyncResult) and not item.ready())
                if busy < queued:
                    queue.append(pool.apply_async(process_in_worker, (chunk, encoder.learned())))
                else:
                    queue.append(process_chunk(chunk, settings, encoder))
                while queue and (len(queue) >= read_ahead or not isinstance(queue[0], AsyncResult) or queue[0].ready()):
                    yield _received(queue.popleft(), encoder)
            while queue:
                yield _received(queue.popleft(), encoder)
            pool.close()
        finally:
            pool.terminate()
            pool.join()


def _received(item: ChunkResult | AsyncResult, encoder: UnitEncoder) -> ChunkResult:
    """A chunk's results from the queue of ``process_chunks``; a helper's come with the words it encoded."""
    if not isinstance(item, AsyncResult):
        return item
    result, learned = item.get()
    encoder.teach(learned)
    return result
