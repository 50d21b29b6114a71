"""``prepare``: raw text to training-ready token shards, streaming, parallel, deterministic, resumable.

Pipeline: sources read as one ordered stream of documents, in chunks of whole
documents -> (workers) clean, hash, sentence-split and tokenize a chunk at a
time, as whole-chunk passes (``tokenize_docs``: C-level scans, one regex search
and one encoder call per chunk, results as flat arrays) -> (main process, in
input order) exact dedup by content hash and train/valid assignment by hash for
the whole chunk with numpy, packing per (split, language) document by document
into batches of sequences, shard writing.

Determinism: every per-document result depends on the document alone and the
main process consumes them in input order, so the shards are byte-identical
whatever ``num_workers``. Resume: a part (one shard per split) is closed after
the document that fills a train or valid shard; its files are renamed into
place, then ``progress.state.npz`` (input position, packer states, counters,
dedup table; plain arrays and JSON, see ``resume_state.py``: a shard folder from
someone else can never run code) is replaced atomically: that file is the only
claim that the part is complete. A rerun checks it, deletes anything not claimed
and continues from the recorded input position; the result is byte-identical to
an uninterrupted run.
Memory: a bounded number of chunks in flight, shards streamed to disk; what
grows with the corpus is the dedup table (8 bytes per kept document, see
``dedup.py``); the word cache of the encoder has a fixed cap.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
from multiprocessing.pool import AsyncResult
import os
from collections import Counter, deque
from dataclasses import asdict
from pathlib import Path
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from workbench.artifacts.atomic import write_json
from workbench.artifacts.locking import folder_lock
from workbench.artifacts.provenance import config_hash, provenance
from workbench.corpus.cleaning import (
    DUPLICATE_DOCUMENT,
    EMPTY_DOCUMENT,
    CleaningRules,
    split_counts,
    validation_mask,
)
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.corpus.dedup import HashTable64
from workbench.corpus.identity import tokenizer_identity
from workbench.corpus.mixing import smoothed_probabilities
from workbench.corpus.packing import SENTENCE_MODES, PackedBatch, Packer, SpecialLayout, make_packer
from workbench.corpus.reading import check_sources, corpus_languages, iter_raw_chunks
from workbench.corpus.resume_state import StateFileError, read_state, write_state
from workbench.corpus.shards import MANIFEST, SPLITS, ShardWriter, token_dtype
from workbench.corpus.tokenize_docs import (
    ChunkResult,
    RawChunk,
    WorkSettings,
    init_worker,
    process_chunk,
    process_in_worker,
)
from workbench.corpus.word_cache import UnitEncoder, word_decomposable
from workbench.text.sources import describe_files, resolve_files
from workbench.tokenization.tokenizer import Tokenizer

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STATE_FILE = "progress.state.npz"  # the commit record of finished parts (data only: resume_state.py)
STATE_FORMAT = 2  # 1 was progress.state.pkl, a pickle
LEGACY_STATE_FILE = "progress.state.pkl"  # never read (unpickling runs code); its folder is prepared again
PROGRESS_FILE = "progress.json"  # human-readable mirror of the state
CHUNK_CHARS = 1 << 18  # characters of raw text per unit of work sent to a worker (bounds transient memory)
HELPER_BACKLOG = 3  # chunks queued per helper process before this process tokenizes one itself


class PrepareError(ValueError):
    """The shard set cannot be prepared as asked; the message says why and what to do."""


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


# ------------------------------------------------------------------------------------------------ helpers
@contextlib.contextmanager
def _single_threaded_tokenizers() -> Iterator[None]:
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


def _is_our_file(name: str) -> bool:
    if name in (MANIFEST, STATE_FILE, LEGACY_STATE_FILE, PROGRESS_FILE):
        return True
    if name.startswith(".") and name.endswith(".tmp"):
        return True
    head = name.split(".", 1)[0]
    return head in SPLITS and (name.endswith(".tokens") or name.endswith(".npy"))


def _clear(folder: Path, keep: Iterable[str] = ()) -> None:
    keep = set(keep)
    for path in folder.iterdir():
        if path.is_file() and _is_our_file(path.name) and path.name not in keep:
            path.unlink()


def _input_listing(corpus: CorpusConfig) -> List[Dict]:
    listing = []
    for source in corpus.sources:
        entry: Dict = {"path": source.path, "kind": source.kind, "language": source.language}
        if source.kind in ("text", "jsonl"):
            files = resolve_files(source.path)
            entry["files"] = len(files)
            entry["bytes"] = sum(f.stat().st_size for f in files)
        listing.append(entry)
    return listing


# ------------------------------------------------------------------------------------------------ the run
class _Preparation:
    def __init__(self, corpus: CorpusConfig, packing: PackingConfig, tokenizer: Tokenizer, out_dir: Path, seed: int, identity_hash: str) -> None:
        self.corpus = corpus
        self.packing = packing
        self.tokenizer = tokenizer
        self.out_dir = out_dir
        self.identity_hash = identity_hash
        self.languages = corpus_languages(corpus)
        self.layout = SpecialLayout(tokenizer.cls_id, tokenizer.sep_id, tokenizer.family)
        self.dtype = token_dtype(tokenizer.vocab_size)
        self.extras: List[str] = []
        if len(self.languages) > 1:
            self.extras.append("lang")
        if packing.mode == "sentence_pairs":
            self.extras.append("nsp")
            self.extras.append("types")
        self.packers: Dict[Tuple[str, int], Packer] = {
            (split, lang): make_packer(packing.mode, self.layout, packing.max_seq_len, packing.short_seq_prob, seed, packing.random_next_pool)
            for split in SPLITS
            for lang in range(len(self.languages))
        }
        self.counts: Counter = Counter()
        self.split_counts: Dict[str, Counter] = {split: Counter() for split in SPLITS}
        self.source_tokens: Counter = Counter()  # content tokens of kept train documents per source
        self.lang_sequences: Dict[str, Counter] = {split: Counter() for split in SPLITS}
        self.seen = HashTable64()
        self.docs_consumed = 0
        self.part = 0
        self.records: Dict[str, List[Dict]] = {split: [] for split in SPLITS}
        self.writers: Dict[str, ShardWriter] = {}
        self.pending_tokens: Dict[str, int] = {split: 0 for split in SPLITS}
        # per split, the packer whose sequences were fed last and are not in the shard yet (sequences go to
        # the shard in the order documents produced them, also when languages alternate)
        self.emitters: Dict[str, Optional[Tuple[str, int]]] = {split: None for split in SPLITS}
        self.progress_bar = None

    # -- state ---------------------------------------------------------------------------------------------
    def _state(self) -> Dict:
        """JSON values and arrays only (integer-keyed counters as [key, count] pairs)."""
        return {
            "format": STATE_FORMAT,
            "identity_hash": self.identity_hash,
            "part": self.part,
            "docs_consumed": self.docs_consumed,
            "counts": dict(self.counts),
            "split_counts": {k: dict(v) for k, v in self.split_counts.items()},
            "source_tokens": sorted([int(k), int(v)] for k, v in self.source_tokens.items()),
            "lang_sequences": {k: sorted([int(lang), int(n)] for lang, n in v.items()) for k, v in self.lang_sequences.items()},
            "seen": self.seen.to_array(),
            "packers": {f"{split}:{lang}": packer.state() for (split, lang), packer in self.packers.items()},
            "records": self.records,
        }

    def check_state(self, state: Dict, path: Path) -> None:
        """Refuse a state of this configuration that is not what ``_state`` writes, before any of it is used."""

        def fail(key: str, what: str) -> None:
            raise PrepareError(
                f"{path}: {key} {what}, so the finished parts it claims cannot be trusted; delete {path.parent}"
                " (or choose another paths.shards) to prepare this shard set from the start"
            )

        def counter(key: str, value: object) -> None:
            if not isinstance(value, dict) or not all(isinstance(v, int) and v >= 0 for v in value.values()):
                fail(key, "is not a table of counts")

        def pairs(key: str, value: object, bound: int) -> None:
            ok = isinstance(value, list) and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) for x in p) and 0 <= p[0] < bound and p[1] >= 0
                for p in value
            )
            if not ok:
                fail(key, f"is not a list of [index < {bound}, count] pairs")

        def int_array(key: str, value: object, dtype: type) -> None:
            if not isinstance(value, np.ndarray) or value.dtype != dtype:
                fail(key, f"is not an array of {np.dtype(dtype).name}")

        if state.get("format") != STATE_FORMAT:
            fail("format", f"is {state.get('format')!r}, this workbench writes {STATE_FORMAT}")
        for key in ("part", "docs_consumed"):
            if not isinstance(state.get(key), int) or state[key] < 0:
                fail(key, "is not a count")
        counter("counts", state.get("counts"))
        for name, table in ("split_counts", state.get("split_counts")), ("lang_sequences", state.get("lang_sequences")):
            if not isinstance(table, dict) or set(table) != set(SPLITS):
                fail(name, f"does not have the splits {list(SPLITS)}")
        for split in SPLITS:
            counter(f"split_counts.{split}", state["split_counts"][split])
            pairs(f"lang_sequences.{split}", state["lang_sequences"][split], len(self.languages))
        pairs("source_tokens", state.get("source_tokens"), len(self.corpus.sources))
        int_array("seen", state.get("seen"), np.uint64)
        packers = state.get("packers")
        expected = {f"{split}:{lang}" for split, lang in self.packers}
        if not isinstance(packers, dict) or set(packers) != expected:
            fail("packers", f"does not have the packers {sorted(expected)}")
        for key, packer in packers.items():
            if not isinstance(packer, dict):
                fail(f"packers.{key}", "is not a packer state")
            counter(f"packers.{key}.stats", packer.get("stats"))
            if "pending" in packer:
                int_array(f"packers.{key}.pending", packer["pending"], np.int64)
            for d, document in enumerate(packer.get("pool", [])):
                if not isinstance(document, list):
                    fail(f"packers.{key}.pool[{d}]", "is not a list of sentences")
                for s, sentence in enumerate(document):
                    int_array(f"packers.{key}.pool[{d}][{s}]", sentence, np.int64)
        records = state.get("records")
        if not isinstance(records, dict) or set(records) != set(SPLITS):
            fail("records", f"does not have the splits {list(SPLITS)}")
        for split in SPLITS:
            if not isinstance(records[split], list):
                fail(f"records.{split}", "is not a list of shards")
            for i, record in enumerate(records[split]):
                key = f"records.{split}[{i}]"
                if not isinstance(record, dict) or record.get("split") != split or not isinstance(record.get("sha256"), str):
                    fail(key, "is not a shard record")
                for field in ("shard", "sequences", "tokens"):
                    if not isinstance(record.get(field), int) or record[field] < 0:
                        fail(f"{key}.{field}", "is not a count")
                files = record.get("files")
                if not isinstance(files, dict) or "tokens" not in files:
                    fail(f"{key}.files", "does not list the shard's files")
                for name in files.values():  # file names inside this folder, of the kinds prepare writes
                    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") or not _is_our_file(name):
                        fail(f"{key}.files", f"names {name!r}, not a shard file of this folder")

    def restore(self, state: Dict) -> None:
        self.part = state["part"]
        self.docs_consumed = state["docs_consumed"]
        self.counts = Counter(state["counts"])
        self.split_counts = {k: Counter(v) for k, v in state["split_counts"].items()}
        self.source_tokens = Counter({source: tokens for source, tokens in state["source_tokens"]})
        self.lang_sequences = {k: Counter({lang: n for lang, n in v}) for k, v in state["lang_sequences"].items()}
        self.seen = HashTable64.from_array(state["seen"])
        for key, packer_state in state["packers"].items():
            split, lang = key.split(":")
            self.packers[(split, int(lang))].restore(packer_state)
        self.records = state["records"]

    def _commit(self) -> None:
        """The single atomic claim that parts [0, self.part) are complete."""
        write_state(self.out_dir / STATE_FILE, self._state())
        write_json(
            self.out_dir / PROGRESS_FILE,
            {"config_hash": self.identity_hash, "parts_done": self.part, "documents_consumed": self.docs_consumed, "shards": self.records},
        )

    # -- parts ---------------------------------------------------------------------------------------------
    def _open_writers(self) -> None:
        self.writers = {split: ShardWriter(self.out_dir, split, self.part, self.dtype, self.extras) for split in SPLITS}
        self.pending_tokens.update({split: 0 for split in SPLITS})  # tokens of each split's shard, written or not

    def _close_part(self) -> None:
        for split, writer in self.writers.items():
            if writer.sequences:
                self.records[split].append(writer.close())
            else:
                writer.abort()
        self.writers = {}
        self.part += 1
        self._commit()

    def _abort_writers(self) -> None:
        for writer in self.writers.values():
            writer.abort()
        self.writers = {}

    # -- consuming results ---------------------------------------------------------------------------------
    def _drain(self, key: Tuple[str, int]) -> None:
        """Move the sequences packer ``key`` holds into its split's shard."""
        batch = self.packers[key].take()
        if len(batch):
            split, lang = key
            self.writers[split].add_batch(batch, lang)
            self.lang_sequences[split][lang] += len(batch)

    def _drain_all(self) -> None:
        for split, key in self.emitters.items():
            if key is not None:
                self._drain(key)
                self.emitters[split] = None

    def _account(self, chunk: ChunkResult, a: int, b: int, marks: Dict[str, np.ndarray]) -> None:
        """Add the counts of documents ``a``..``b - 1`` of ``chunk`` (all consumed) to the run's counters."""
        if b <= a:
            return
        counts = self.counts
        counts["lines_kept"] += int(chunk.lines_kept[a:b].sum())
        counts["documents_read"] += b - a
        for position, stats in chunk.stats.items():
            if a <= position < b:
                for key, value in stats.items():
                    counts[key] += value
        for key, mask in ((EMPTY_DOCUMENT, marks["empty"]), (DUPLICATE_DOCUMENT, marks["duplicate"])):
            number = int(mask[a:b].sum())
            if number:
                counts[key] += number
        kept = marks["kept"][a:b]
        n_kept = int(kept.sum())
        if n_kept:
            counts["documents_kept"] += n_kept
            train = kept & ~marks["valid"][a:b]
            n_train = int(train.sum())
            if n_train:
                self.split_counts["train"]["documents"] += n_train
                sources = chunk.source_ids[a:b][train]
                tokens = marks["doc_tokens"][a:b][train]
                for source in np.unique(sources).tolist():
                    self.source_tokens[source] += int(tokens[sources == source].sum())
            if n_kept > n_train:
                self.split_counts["valid"]["documents"] += n_kept - n_train
            if self.corpus.dedup:
                self.seen.add_many(chunk.hashes[a:b][kept])
        before = self.docs_consumed
        self.docs_consumed = chunk.first_index + b
        if self.progress_bar is not None:
            self.progress_bar.update(self.docs_consumed // 1000 * 1000 - before // 1000 * 1000)

    def feed(self, chunk: ChunkResult) -> None:
        """Consume the results of one chunk, in input order (dedup, split, packing, shard parts).

        Dedup, the train/valid split and the counters are computed for the whole chunk with numpy; only
        the packing runs document by document. A shard part closes after the document that fills a train
        or valid shard, exactly as if documents came one at a time (so a resumed run, whose chunks start
        elsewhere, writes the same bytes)."""
        n = len(chunk)
        if n == 0:
            return
        doc_tokens = chunk.doc_tokens()
        empty = (chunk.lines_kept == 0) | (doc_tokens == 0)
        if self.corpus.dedup:
            self.seen.settle()
            kept = self.seen.first_seen(chunk.hashes, ~empty)
            duplicate = ~empty & ~kept
        else:
            kept = ~empty
            duplicate = np.zeros(n, dtype=bool)
        valid = validation_mask(chunk.hashes, self.corpus.validation_fraction)
        marks = {"empty": empty, "duplicate": duplicate, "kept": kept, "valid": valid, "doc_tokens": doc_tokens}
        positions = np.flatnonzero(kept)
        tokens = chunk.tokens
        bounds = chunk.unit_bounds.tolist()
        doc_units = chunk.doc_units.tolist()
        first_index = chunk.first_index
        packers = self.packers
        emitters = self.emitters
        pending_tokens = self.pending_tokens
        shard_tokens = self.packing.shard_tokens
        done = 0
        for position, is_valid, lang in zip(positions.tolist(), valid[positions].tolist(), chunk.lang_ids[positions].tolist()):
            split = "valid" if is_valid else "train"
            key = (split, lang)
            emitted = packers[key].feed_units(tokens, bounds, doc_units[position], doc_units[position + 1], first_index + position)
            if not emitted:
                continue
            previous = emitters[split]
            if previous != key:  # another language packed into this split since: its sequences come first
                if previous is not None:
                    self._drain(previous)
                emitters[split] = key
            pending_tokens[split] += emitted
            if pending_tokens[split] >= shard_tokens:  # only this split's shard grew
                self._account(chunk, done, position + 1, marks)
                done = position + 1
                self._drain_all()
                self._close_part()
                self._open_writers()
        self._account(chunk, done, n, marks)
        self._drain_all()  # releases the chunk's arrays

    def _results(self, chunks: Iterator[RawChunk]) -> Iterator[ChunkResult]:
        settings = WorkSettings(
            CleaningRules(
                normalization=self.corpus.normalization,
                min_chars=self.corpus.min_chars,
                max_chars=self.corpus.max_chars,
                min_alpha_fraction=self.corpus.min_alpha_fraction,
                skip_undecodable=self.corpus.undecodable == "skip",
            ),
            sentence_units=self.packing.mode in SENTENCE_MODES,
            cache_entries=self.packing.word_cache_entries,
        )
        workers = self.packing.num_workers
        encoder = UnitEncoder(self.tokenizer, settings.cache_entries, share=workers > 1)
        if workers == 1:
            with _single_threaded_tokenizers():
                for chunk in chunks:
                    yield process_chunk(chunk, settings, encoder)
            return
        # num_workers processes tokenize: this one and num_workers - 1 helpers. Each helper keeps up to
        # HELPER_BACKLOG chunks queued; when all are that busy, this process (which also packs and writes)
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
        backlog = HELPER_BACKLOG * helpers
        read_ahead = 2 * backlog + 2  # chunks in memory at most: bounded whatever the corpus size
        with _single_threaded_tokenizers():
            pool = context.Pool(helpers, initializer=init_worker, initargs=(settings, self.tokenizer))
            try:
                queue: Deque = deque()  # ChunkResult (processed here) or AsyncResult (a helper's), input order
                for chunk in chunks:
                    busy = sum(1 for item in queue if isinstance(item, AsyncResult) and not item.ready())
                    if busy < backlog:
                        queue.append(pool.apply_async(process_in_worker, (chunk, encoder.learned())))
                    else:
                        queue.append(process_chunk(chunk, settings, encoder))
                    while queue and (len(queue) >= read_ahead or not isinstance(queue[0], AsyncResult) or queue[0].ready()):
                        yield self._received(queue.popleft(), encoder)
                while queue:
                    yield self._received(queue.popleft(), encoder)
                pool.close()
            finally:
                pool.terminate()
                pool.join()

    @staticmethod
    def _received(item: ChunkResult | AsyncResult, encoder: UnitEncoder) -> ChunkResult:
        """A chunk's results from the queue of ``_results``; a helper's come with the words it encoded."""
        if not isinstance(item, AsyncResult):
            return item
        result, learned = item.get()
        encoder.teach(learned)
        return result

    def run(self, progress: bool) -> None:
        chunks = iter_raw_chunks(self.corpus, self.docs_consumed, CHUNK_CHARS)
        self._open_writers()
        try:
            if progress:
                from tqdm import tqdm

                self.progress_bar = tqdm(desc=f"prepare {self.corpus.name}", unit="doc", initial=self.docs_consumed - self.docs_consumed % 1000)
            for results in self._results(chunks):
                self.feed(results)
            for (split, lang), packer in sorted(self.packers.items()):
                batch = PackedBatch.from_packed(packer.finish())
                if len(batch):
                    self.writers[split].add_batch(batch, lang)
                    self.lang_sequences[split][lang] += len(batch)
            self._close_part()
        except BaseException:
            self._abort_writers()
            raise
        finally:
            if self.progress_bar is not None:
                self.progress_bar.close()

    # -- manifest ------------------------------------------------------------------------------------------
    def manifest(self, identity: Dict) -> Dict:
        dropped, other = split_counts(self.counts)
        for packer in self.packers.values():
            other_update = {k: v for k, v in packer.stats.items()}
            for key, value in other_update.items():
                other[key] = other.get(key, 0) + value
        splits = {}
        for split in SPLITS:
            records = self.records[split]
            splits[split] = {
                "documents": self.split_counts[split]["documents"],
                "sequences": sum(r["sequences"] for r in records),
                "tokens": sum(r["tokens"] for r in records),
                "sequences_per_language": {self.languages[k]: v for k, v in sorted(self.lang_sequences[split].items())},
                "shards": records,
            }
        weighted: Dict[str, float] = {lang: 0.0 for lang in self.languages}
        for source_id, tokens in self.source_tokens.items():
            source = self.corpus.sources[int(source_id)]
            weighted[source.language] += source.weight * tokens
        q = smoothed_probabilities(weighted, self.corpus.language_sampling_alpha)
        total = sum(weighted.values()) or 1.0
        sampling = {
            lang: {"weighted_tokens": weighted[lang], "p": weighted[lang] / total, "q": q[lang]} for lang in self.languages
        }
        return provenance(
            identity,
            format="workbench-shards",
            format_version=FORMAT_VERSION,
            dtype=str(self.dtype),
            vocab_size=self.tokenizer.vocab_size,
            tokenizer={**tokenizer_identity(self.tokenizer), "directory": str(self.tokenizer.directory)},
            special_ids={
                "pad": self.tokenizer.pad_id,
                "cls": self.tokenizer.cls_id,
                "sep": self.tokenizer.sep_id,
                "mask": self.tokenizer.mask_id,
                "unk": self.tokenizer.unk_id,
            },
            packing={"mode": self.packing.mode, "max_seq_len": self.packing.max_seq_len},
            languages=self.languages,
            extras=self.extras,
            token_type_ids=self.packing.mode == "sentence_pairs" and self.layout.uses_token_types,
            splits=splits,
            counts=other,
            dropped=dropped,
            language_sampling={"alpha": self.corpus.language_sampling_alpha, "languages": sampling},
            inputs=_input_listing(self.corpus),
            num_workers=self.packing.num_workers,
            encoding="word_cache" if word_decomposable(self.tokenizer) else "encode_batch",
        )


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
           identity_hash: str, progress: bool, overwrite: bool) -> Dict:
    """Prepare (or resume) the shard set in ``out_dir``, whose lock this process holds."""
    manifest_path = out_dir / MANIFEST
    run = _Preparation(corpus, packing, tokenizer, out_dir, seed, identity_hash)
    state_path = out_dir / STATE_FILE
    state: Optional[Dict] = None
    if (out_dir / LEGACY_STATE_FILE).exists():
        log.warning(
            "%s: ignoring %s (an older workbench's pickled resume state is never loaded: unpickling can run code);"
            " the shard set is prepared from the start", out_dir, LEGACY_STATE_FILE,
        )
    if state_path.exists() and not overwrite:
        try:
            state = read_state(state_path)
        except StateFileError as error:
            raise PrepareError(
                f"{error}; delete {out_dir} (or choose another paths.shards) to prepare this shard set from the start"
            ) from None
        if state.get("identity_hash") != identity_hash:
            log.info("%s: the resume state is of another configuration: the shard set is prepared from the start", out_dir)
            state = None
        else:
            run.check_state(state, state_path)
    if state is None:
        _clear(out_dir)
    else:
        run.restore(state)
        claimed = {STATE_FILE, PROGRESS_FILE}
        for records in run.records.values():
            for record in records:
                claimed.update(record["files"].values())
        _clear(out_dir, keep=claimed)  # anything a killed run left unclaimed
    run.run(progress)
    if run.counts["documents_kept"] == 0:
        dropped, _ = split_counts(run.counts)
        raise PrepareError(
            f"corpus {corpus.name!r} ({describe_files(corpus.sources)}) produced no documents:"
            f" {run.counts['documents_read']} read, dropped: {dropped};"
            " check the sources and the cleaning filters (min_chars, max_chars, min_alpha_fraction)"
        )
    manifest = run.manifest(identity)
    (out_dir / STATE_FILE).unlink(missing_ok=True)
    (out_dir / PROGRESS_FILE).unlink(missing_ok=True)
    write_json(manifest_path, manifest)  # last: the folder is now a finished shard set
    return manifest
