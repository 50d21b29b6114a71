"""``prepare``: raw text to training-ready token shards, streaming, parallel, deterministic, resumable.

A pipeline of named steps over a stream of chunks (whole documents, ``CHUNK_CHARS`` characters of text
each); ``_steps`` lists them in order, each a small unit of its own module:

- ``read`` (``reading.iter_raw_chunks``): the sources as one ordered stream of documents, from the
  input position of the resume state on;
- ``clean`` and ``tokenize`` (``tokenize_docs.clean_chunk``, ``tokenize_chunk``; run by
  ``chunk_pool.process_chunks`` in ``num_workers`` processes, results in input order): lines cleaned
  and dropped by reason, documents hashed, split into units and tokenized as whole-chunk passes;
- ``deduplicate`` (``deduplicate.mark_documents``): exact dedup by content hash and the train/valid
  assignment by hash, for the whole chunk with numpy;
- ``pack`` (``pack_splits.SplitPackers``): kept documents into sequences per (split, language),
  document by document; says where a part (one shard per split) is full;
- ``write`` (``shard_parts.write_parts``): sequences into the shard files, a part at a time.

The steps are generators chained by pulling: a chunk is deduplicated only once every document before it
is written and accounted for (``Progress.expect`` checks it), which the dedup table relies on.

Determinism: every per-document result depends on the document alone and the main process consumes them
in input order, so the shards are byte-identical whatever ``num_workers``. Resume (``progress.py``, the
bookkeeping in one place): after each part the input position, counters, dedup table and packer states
are committed to ``progress.state.npz``; a rerun checks it, deletes anything not claimed and continues from
the recorded input position; the result is byte-identical to an uninterrupted run.
Memory: a bounded number of chunks in flight, shards streamed to disk; what grows with the corpus is the
dedup table (8 bytes per kept document, see ``dedup.py``); the word cache of the encoder has a fixed cap.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from workbench.artifacts.atomic import write_json
from workbench.artifacts.locking import folder_lock
from workbench.artifacts.provenance import config_hash
from workbench.corpus import progress as resume_bookkeeping
from workbench.corpus.chunk_pool import process_chunks
from workbench.corpus.cleaning import CleaningRules, split_counts
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.corpus.deduplicate import mark_documents
from workbench.corpus.identity import tokenizer_identity
from workbench.corpus.pack_splits import SplitPackers
from workbench.corpus.packing import SENTENCE_MODES, SpecialLayout
from workbench.corpus.prepare_error import PrepareError
from workbench.corpus.prepare_manifest import FORMAT_VERSION, shard_extras, shard_manifest
from workbench.corpus.progress import LEGACY_STATE_FILE, PROGRESS_FILE, STATE_FILE, STATE_FORMAT, Progress
from workbench.corpus.reading import check_sources, corpus_languages, iter_raw_chunks
from workbench.corpus.shard_parts import ShardParts, write_parts
from workbench.corpus.shards import MANIFEST, token_dtype
from workbench.corpus.tokenize_docs import WORKER_STEPS, WorkSettings
from workbench.text.sources import describe_files
from workbench.tokenization.tokenizer import Tokenizer

__all__ = ["prepare_corpus", "shard_set_identity", "PrepareError", "STATE_FILE", "STATE_FORMAT", "LEGACY_STATE_FILE", "PROGRESS_FILE", "FORMAT_VERSION"]

log = logging.getLogger(__name__)

CHUNK_CHARS = 1 << 18  # characters of raw text per unit of work sent to a worker (bounds transient memory)
HELPER_BACKLOG = 3  # chunks queued per helper process before this process tokenizes one itself


# ------------------------------------------------------------------------------------------------ identity
def shard_set_identity(corpus: CorpusConfig, packing: PackingConfig, tokenizer: Tokenizer, seed: int) -> Dict:
    """Everything the shard bytes depend on (not num_workers nor the word cache size: speed knobs only)."""
    packing_plain = asdict(packing)
    packing_plain.pop("num_workers")
    packing_plain.pop("word_cache_entries")
    return {
        "format_version": FORMAT_VERSION,
        "corpus": asdict(corpus),
        "packing": packing_plain,
        "tokenizer": tokenizer_identity(tokenizer),
        "seed": seed if packing.mode == "sentence_pairs" else None,  # the only randomized mode
    }


# ------------------------------------------------------------------------------------------------ the steps
@dataclass(frozen=True)
class Step:
    """One named step: a generator from the previous step's stream to its own."""

    name: str
    run: Callable[[Iterator[Any]], Iterator[Any]]


def work_settings(corpus: CorpusConfig, packing: PackingConfig) -> WorkSettings:
    """What the worker steps (clean, tokenize) need, sent once to each helper process."""
    rules = CleaningRules(
        normalization=corpus.normalization,
        min_chars=corpus.min_chars,
        max_chars=corpus.max_chars,
        min_alpha_fraction=corpus.min_alpha_fraction,
        skip_undecodable=corpus.undecodable == "skip",
    )
    return WorkSettings(rules, sentence_units=packing.mode in SENTENCE_MODES, cache_entries=packing.word_cache_entries)


def _steps(corpus: CorpusConfig, packing: PackingConfig, tokenizer: Tokenizer, progress: Progress, packers: SplitPackers,
           parts: ShardParts, commit: Callable[[], None]) -> List[Step]:
    """The pipeline, in order; the last step yields the number of documents consumed so far."""
    settings = work_settings(corpus, packing)
    workers = packing.num_workers

    def deduplicate(results: Iterator) -> Iterator:
        for chunk in results:
            progress.expect(chunk.first_index)
            yield mark_documents(chunk, progress.seen, corpus.dedup, corpus.validation_fraction)

    return [
        Step("read", lambda _: iter_raw_chunks(corpus, progress.docs_consumed, CHUNK_CHARS)),
        Step(" -> ".join(WORKER_STEPS) + f" ({workers} process{'es' if workers > 1 else ''})",
             lambda chunks: process_chunks(chunks, settings, tokenizer, workers, HELPER_BACKLOG)),
        Step("deduplicate", deduplicate),
        Step("pack", packers.pack),
        Step("write", lambda events: write_parts(events, parts, progress, commit)),
    ]


def _run_steps(steps: List[Step]) -> Iterator[Any]:
    return reduce(lambda stream, step: step.run(stream), steps, iter(()))


# ------------------------------------------------------------------------------------------------ entry
def prepare_corpus(
    corpus: CorpusConfig,
    packing: PackingConfig,
    tokenizer: Tokenizer,
    out_dir: str | Path,
    seed: int,
    progress: bool = True,
    overwrite: bool = False,
) -> Dict:
    """Build (or reuse, or resume) the shard set in ``out_dir``; returns its manifest.

    A folder whose manifest has the same config hash is reused as is. A folder with
    a manifest of another configuration is an error unless ``overwrite``. An
    unfinished folder of the same configuration is resumed from its last finished part.
    """
    out_dir = Path(out_dir)
    identity = shard_set_identity(corpus, packing, tokenizer, seed)
    identity_hash = config_hash(identity)
    manifest_path = out_dir / MANIFEST

    def finished() -> Optional[Dict]:
        if not manifest_path.exists():
            return None
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        if existing.get("config_hash") == identity_hash and not overwrite:
            return existing
        if not overwrite:
            raise PrepareError(
                f"{out_dir} holds a shard set of another configuration (config hash {existing.get('config_hash')},"
                f" this one is {identity_hash}); delete the folder, choose another one, or pass overwrite"
            )
        return None

    existing = finished()  # a finished folder is reused without its lock (it may be a colleague's, read-only)
    if existing is not None:
        return existing
    check_sources(corpus)  # fail fast, before any work, naming the missing source
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(out_dir, "prepare"):  # one process per shard folder
            existing = finished()  # finished by another process since the check above
            if existing is not None:
                return existing
            return _build(corpus, packing, tokenizer, out_dir, seed, identity, identity_hash, progress, overwrite)
    except BaseException:
        if created and not any(out_dir.iterdir()):  # failed before writing anything: leave no empty folder
            out_dir.rmdir()
        raise


def _build(corpus: CorpusConfig, packing: PackingConfig, tokenizer: Tokenizer, out_dir: Path, seed: int, identity: Dict,
           identity_hash: str, progress_bar: bool, overwrite: bool) -> Dict:
    """Prepare (or resume) the shard set in ``out_dir``, whose lock this process holds."""
    languages = corpus_languages(corpus)
    layout = SpecialLayout(tokenizer.cls_id, tokenizer.sep_id, tokenizer.family)
    packers = SplitPackers(packing, layout, len(languages), seed)
    progress = resume_bookkeeping.resume(out_dir, identity_hash, overwrite, len(languages), len(corpus.sources), packers.packers)
    parts = ShardParts(out_dir, token_dtype(tokenizer.vocab_size), shard_extras(languages, packing.mode))
    steps = _steps(corpus, packing, tokenizer, progress, packers, parts,
                   commit=lambda: progress.commit(out_dir, identity_hash, packers.packers))
    log.info("prepare %s into %s: %s%s", corpus.name, out_dir, " -> ".join(step.name for step in steps),
             f" (resumed at document {progress.docs_consumed}, part {progress.part})" if progress.part else "")
    bar = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(desc=f"prepare {corpus.name}", unit="doc", initial=progress.docs_consumed - progress.docs_consumed % 1000)
    try:
        shown = progress.docs_consumed // 1000 * 1000
        for consumed in _run_steps(steps):
            if bar is not None and consumed // 1000 * 1000 != shown:
                bar.update(consumed // 1000 * 1000 - shown)
                shown = consumed // 1000 * 1000
    finally:
        if bar is not None:
            bar.close()
    if progress.counts["documents_kept"] == 0:
        dropped, _ = split_counts(progress.counts)
        raise PrepareError(
            f"corpus {corpus.name!r} ({describe_files(corpus.sources)}) produced no documents:"
            f" {progress.counts['documents_read']} read, dropped: {dropped};"
            " check the sources and the cleaning filters (min_chars, max_chars, min_alpha_fraction)"
        )
    manifest = shard_manifest(identity, corpus, packing, tokenizer, languages, progress, packers.packers.values())
    resume_bookkeeping.finished(out_dir)
    write_json(out_dir / MANIFEST, manifest)  # last: the folder is now a finished shard set
    return manifest
