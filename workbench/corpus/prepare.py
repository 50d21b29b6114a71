"""``prepare``: raw text to training-ready token shards, streaming, parallel, deterministic, resumable.

Pipeline: sources read as one ordered stream of documents -> (workers) clean,
hash, sentence-split, tokenize a chunk of documents at a time -> (main process,
in input order) exact dedup by content hash, train/valid assignment by hash,
packing per (split, language), shard writing.

Determinism: every per-document result depends on the document alone and the
main process consumes them in input order, so the shards are byte-identical
whatever ``num_workers``. Resume: a part (one shard per split) is closed after
the document that fills a train or valid shard; its files are renamed into
place, then ``progress.state.pkl`` (input position, packer states, counters,
dedup table) is replaced atomically: that file is the only claim that the part
is complete. A rerun deletes anything not claimed and continues from the
recorded input position; the result is byte-identical to an uninterrupted run.
Memory: a bounded number of chunks in flight, shards streamed to disk; what
grows with the corpus is the dedup table (8 bytes per kept document, see
``dedup.py``); the word cache of the encoder has a fixed cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
from collections import Counter, deque
from dataclasses import asdict
from pathlib import Path
from typing import Deque, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from workbench.artifacts.atomic import atomic_file, write_json
from workbench.artifacts.provenance import config_hash, provenance
from workbench.corpus.cleaning import (
    DUPLICATE_DOCUMENT,
    EMPTY_DOCUMENT,
    CleaningRules,
    is_validation,
    split_counts,
)
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.corpus.dedup import HashTable64
from workbench.corpus.mixing import smoothed_probabilities
from workbench.corpus.packing import SENTENCE_MODES, DocTokens, Packer, SpecialLayout, make_packer
from workbench.corpus.reading import check_sources, corpus_languages, iter_raw_chunks
from workbench.corpus.shards import MANIFEST, SPLITS, ShardWriter, token_dtype
from workbench.corpus.tokenize_docs import (
    DocResult,
    RawDoc,
    WorkSettings,
    init_worker,
    process_documents,
    process_in_worker,
)
from workbench.corpus.word_cache import UnitEncoder, word_decomposable
from workbench.text.sources import resolve_files
from workbench.tokenization.tokenizer import Tokenizer

FORMAT_VERSION = 1
STATE_FILE = "progress.state.pkl"  # the commit record of finished parts
PROGRESS_FILE = "progress.json"  # human-readable mirror of the state
CHUNK_CHARS = 1 << 18  # characters of raw text per unit of work sent to a worker (bounds transient memory)


class PrepareError(ValueError):
    """The shard set cannot be prepared as asked; the message says why and what to do."""


# ------------------------------------------------------------------------------------------------ identity
def tokenizer_identity(tokenizer: Tokenizer) -> Dict:
    return {
        "sha256": hashlib.sha256(tokenizer.backend.to_str().encode("utf-8")).hexdigest(),
        "family": tokenizer.family,
        "algorithm": tokenizer.algorithm,
        "vocab_size": tokenizer.vocab_size,
    }


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
    if name in (MANIFEST, STATE_FILE, PROGRESS_FILE):
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
        self.progress_bar = None

    # -- state ---------------------------------------------------------------------------------------------
    def _state(self) -> Dict:
        return {
            "identity_hash": self.identity_hash,
            "part": self.part,
            "docs_consumed": self.docs_consumed,
            "counts": dict(self.counts),
            "split_counts": {k: dict(v) for k, v in self.split_counts.items()},
            "source_tokens": dict(self.source_tokens),
            "lang_sequences": {k: dict(v) for k, v in self.lang_sequences.items()},
            "seen": self.seen.to_array(),
            "packers": {f"{split}:{lang}": packer.state() for (split, lang), packer in self.packers.items()},
            "records": self.records,
        }

    def restore(self, state: Dict) -> None:
        self.part = state["part"]
        self.docs_consumed = state["docs_consumed"]
        self.counts = Counter(state["counts"])
        self.split_counts = {k: Counter(v) for k, v in state["split_counts"].items()}
        self.source_tokens = Counter(state["source_tokens"])
        self.lang_sequences = {k: Counter(v) for k, v in state["lang_sequences"].items()}
        self.seen = HashTable64.from_array(state["seen"])
        for key, packer_state in state["packers"].items():
            split, lang = key.split(":")
            self.packers[(split, int(lang))].restore(packer_state)
        self.records = state["records"]

    def _commit(self) -> None:
        """The single atomic claim that parts [0, self.part) are complete."""
        with atomic_file(self.out_dir / STATE_FILE, "wb") as handle:
            pickle.dump(self._state(), handle, protocol=pickle.HIGHEST_PROTOCOL)
        write_json(
            self.out_dir / PROGRESS_FILE,
            {"config_hash": self.identity_hash, "parts_done": self.part, "documents_consumed": self.docs_consumed, "shards": self.records},
        )

    # -- parts ---------------------------------------------------------------------------------------------
    def _open_writers(self) -> None:
        self.writers = {split: ShardWriter(self.out_dir, split, self.part, self.dtype, self.extras) for split in SPLITS}

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
    def _emit(self, split: str, lang: int, packed_list) -> None:
        if not packed_list:
            return
        writer = self.writers[split]
        for packed in packed_list:
            writer.add(packed, lang)
        self.lang_sequences[split][lang] += len(packed_list)

    def feed(self, results: List[DocResult]) -> None:
        """Consume the results of one chunk, in input order (dedup, split, packing, shard parts)."""
        counts = self.counts
        dedup = self.corpus.dedup
        seen = self.seen
        if dedup:
            seen.settle()  # merges only here, so the batch membership below stays valid for the chunk
            hashes = np.fromiter((r.doc_hash or 0 for r in results), dtype=np.uint64, count=len(results))
            settled = seen.contains_settled(hashes).tolist()
        fraction = self.corpus.validation_fraction
        split_counts = self.split_counts
        packers = self.packers
        shard_tokens = self.packing.shard_tokens
        for position, result in enumerate(results):
            if result.stats:
                for key, value in result.stats.items():
                    counts[key] += value
            counts["lines_kept"] += result.lines_kept
            counts["documents_read"] += 1
            self.docs_consumed = result.index + 1
            if self.progress_bar is not None and not self.docs_consumed % 1000:
                self.progress_bar.update(1000)
            doc_hash = result.doc_hash
            if doc_hash is None or result.n_tokens == 0:
                counts[EMPTY_DOCUMENT] += 1
                continue
            if dedup:
                if settled[position] or doc_hash in seen.pending:
                    counts[DUPLICATE_DOCUMENT] += 1
                    continue
                seen.add(doc_hash)
            split = "valid" if is_validation(doc_hash, fraction) else "train"
            counts["documents_kept"] += 1
            split_counts[split]["documents"] += 1
            if split == "train":
                self.source_tokens[result.source_id] += result.n_tokens
            packed = packers[(split, result.lang_id)].feed(DocTokens(result.index, result.tokens, result.bounds))
            if packed:
                self._emit(split, result.lang_id, packed)
            if self.writers[split].tokens >= shard_tokens:  # only this split's shard grew
                self._close_part()
                self._open_writers()

    def _results(self, chunks: Iterator[List[RawDoc]]) -> Iterator[List[DocResult]]:
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
        encoder = UnitEncoder(self.tokenizer, settings.cache_entries)
        if workers == 1:
            with _single_threaded_tokenizers():
                for chunk in chunks:
                    yield process_documents(chunk, settings, encoder)
            return
        # num_workers processes tokenize: this one and num_workers - 1 helpers. This process also packs and
        # writes, so it takes one chunk in 2 * num_workers and the helpers the others; results are
        # consumed in input order, so the output does not depend on who processed what.
        # fork: works from any script (spawn would need a __main__ guard); tokenizers turns its thread pool
        # off in forked children, which is what one-process-per-core wants anyway
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        helpers = workers - 1
        cycle = 2 * workers  # this process packs and writes too: it takes one chunk in 2 * num_workers
        with _single_threaded_tokenizers():
            pool = context.Pool(helpers, initializer=init_worker, initargs=(settings, self.tokenizer))
            try:
                queue: Deque = deque()  # (chunk to process here, None) or (None, async result of a helper)
                for number, chunk in enumerate(chunks):
                    if number % cycle == 0:
                        queue.append((chunk, None))
                    else:
                        queue.append((None, pool.apply_async(process_in_worker, (chunk,))))
                    while len(queue) >= 2 * cycle:  # bounded read-ahead: memory does not grow with the corpus
                        yield self._take(queue.popleft(), settings, encoder)
                while queue:
                    yield self._take(queue.popleft(), settings, encoder)
                pool.close()
            finally:
                pool.terminate()
                pool.join()

    @staticmethod
    def _take(item, settings: WorkSettings, encoder: UnitEncoder) -> List[DocResult]:
        chunk, pending = item
        return process_documents(chunk, settings, encoder) if pending is None else pending.get()

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
                self._emit(split, lang, packer.finish())
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
    if manifest_path.exists():
        existing = json.loads(manifest_path.read_text(encoding="utf-8"))
        if existing.get("config_hash") == identity_hash and not overwrite:
            return existing
        if not overwrite:
            raise PrepareError(
                f"{out_dir} holds a shard set of another configuration (config hash {existing.get('config_hash')},"
                f" this one is {identity_hash}); delete the folder, choose another one, or pass overwrite"
            )
    check_sources(corpus)  # fail fast, before any work, naming the missing source
    out_dir.mkdir(parents=True, exist_ok=True)
    run = _Preparation(corpus, packing, tokenizer, out_dir, seed, identity_hash)
    state_path = out_dir / STATE_FILE
    state: Optional[Dict] = None
    if state_path.exists() and not overwrite:
        with open(state_path, "rb") as handle:
            state = pickle.load(handle)
        if state.get("identity_hash") != identity_hash:
            state = None
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
            f"corpus {corpus.name!r} produced no documents: {run.counts['documents_read']} read, dropped: {dropped};"
            " check the sources and the cleaning filters (min_chars, max_chars, min_alpha_fraction)"
        )
    manifest = run.manifest(identity)
    (out_dir / STATE_FILE).unlink(missing_ok=True)
    (out_dir / PROGRESS_FILE).unlink(missing_ok=True)
    write_json(manifest_path, manifest)  # last: the folder is now a finished shard set
    return manifest
