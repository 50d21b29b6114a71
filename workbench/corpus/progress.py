"""The resume bookkeeping of ``prepare``, in one place: what a run has consumed and written, saved and restored.

``Progress`` holds the input position (``docs_consumed``), the number of finished parts, the counters the
manifest reports, the dedup table and the records of the finished shards. A part (one shard per split)
closes after the document that fills a train or valid shard; its files are renamed into place, then
``commit`` replaces ``progress.state.npz`` atomically (the progress above plus the state of every packer;
plain arrays and JSON, ``resume_state.py``: a shard folder from someone else can never run code). That
file is the only claim that the parts are complete. ``resume`` reads it back, checks every field before
any is used, deletes anything it does not claim and returns the progress to continue from; the result is
byte-identical to an uninterrupted run. ``progress.json`` is a human-readable mirror.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from workbench.artifacts.atomic import write_json
from workbench.corpus.cleaning import DUPLICATE_DOCUMENT, EMPTY_DOCUMENT
from workbench.corpus.dedup import HashTable64
from workbench.corpus.deduplicate import MarkedChunk
from workbench.corpus.packing import Packer
from workbench.corpus.prepare_error import PrepareError
from workbench.corpus.resume_state import StateFileError, read_state, write_state
from workbench.corpus.shards import MANIFEST, SPLITS

log = logging.getLogger(__name__)

STATE_FILE = "progress.state.npz"  # the commit record of finished parts (data only: resume_state.py)
STATE_FORMAT = 2  # 1 was progress.state.pkl, a pickle
LEGACY_STATE_FILE = "progress.state.pkl"  # never read (unpickling runs code); its folder is prepared again
PROGRESS_FILE = "progress.json"  # human-readable mirror of the state

PackerKey = Tuple[str, int]  # (split, language id)


def is_our_file(name: str) -> bool:
    """A file name ``prepare`` writes in a shard folder (the only ones it ever deletes)."""
    if name in (MANIFEST, STATE_FILE, LEGACY_STATE_FILE, PROGRESS_FILE):
        return True
    if name.startswith(".") and name.endswith(".tmp"):
        return True
    head = name.split(".", 1)[0]
    return head in SPLITS and (name.endswith(".tokens") or name.endswith(".npy"))


def clear(folder: Path, keep: Iterable[str] = ()) -> None:
    """Delete the files of ``prepare`` in ``folder`` but those in ``keep``."""
    keep = set(keep)
    for path in folder.iterdir():
        if path.is_file() and is_our_file(path.name) and path.name not in keep:
            path.unlink()


class Progress:
    """What a run has consumed (input position, counters, dedup table) and written (finished parts)."""

    def __init__(self) -> None:
        self.part = 0  # parts [0, part) are finished
        self.docs_consumed = 0  # input documents accounted for (the position a resumed run reads from)
        self.counts: Counter = Counter()  # documents and lines read, kept, dropped by reason
        self.split_counts: Dict[str, Counter] = {split: Counter() for split in SPLITS}
        self.source_tokens: Counter = Counter()  # content tokens of kept train documents per source
        self.lang_sequences: Dict[str, Counter] = {split: Counter() for split in SPLITS}
        self.seen = HashTable64()  # content hashes of the kept documents (dedup)
        self.records: Dict[str, List[Dict]] = {split: [] for split in SPLITS}  # the finished shards

    # -- accounting ----------------------------------------------------------------------------------------
    def account(self, marked: MarkedChunk, a: int, b: int) -> None:
        """Add documents ``a``..``b - 1`` of ``marked`` (all written) to the counters and the dedup table."""
        if b <= a:
            return
        chunk = marked.chunk
        counts = self.counts
        counts["lines_kept"] += int(chunk.lines_kept[a:b].sum())
        counts["documents_read"] += b - a
        for position, stats in chunk.stats.items():
            if a <= position < b:
                for key, value in stats.items():
                    counts[key] += value
        for key, mask in ((EMPTY_DOCUMENT, marked.empty), (DUPLICATE_DOCUMENT, marked.duplicate)):
            number = int(mask[a:b].sum())
            if number:
                counts[key] += number
        kept = marked.kept[a:b]
        n_kept = int(kept.sum())
        if n_kept:
            counts["documents_kept"] += n_kept
            train = kept & ~marked.valid[a:b]
            n_train = int(train.sum())
            if n_train:
                self.split_counts["train"]["documents"] += n_train
                sources = chunk.source_ids[a:b][train]
                tokens = marked.doc_tokens[a:b][train]
                for source in np.unique(sources).tolist():
                    self.source_tokens[source] += int(tokens[sources == source].sum())
            if n_kept > n_train:
                self.split_counts["valid"]["documents"] += n_kept - n_train
            if marked.remember:
                self.seen.add_many(chunk.hashes[a:b][kept])
        self.docs_consumed = chunk.first_index + b

    def expect(self, first_index: int) -> None:
        """Guard of the pull-based pipeline: a chunk is marked only once every document before it is accounted
        (the dedup table must hold them all)."""
        if first_index != self.docs_consumed:
            raise RuntimeError(f"prepare: chunk at document {first_index} reached the deduplicate step while"
                               f" {self.docs_consumed} documents are accounted for (a step buffers chunks it must not)")

    def add_sequences(self, split: str, lang: int, n: int) -> None:
        self.lang_sequences[split][lang] += n

    def finish_part(self, records: Mapping[str, Dict]) -> None:
        """Parts up to this one are finished: their shards are ``records`` (split -> record)."""
        for split, record in records.items():
            self.records[split].append(record)
        self.part += 1

    def claimed_files(self) -> set:
        claimed = {STATE_FILE, PROGRESS_FILE}
        for records in self.records.values():
            for record in records:
                claimed.update(record["files"].values())
        return claimed

    # -- saving --------------------------------------------------------------------------------------------
    def state(self, identity_hash: str, packers: Mapping[PackerKey, Packer]) -> Dict:
        """JSON values and arrays only (integer-keyed counters as [key, count] pairs)."""
        return {
            "format": STATE_FORMAT,
            "identity_hash": identity_hash,
            "part": self.part,
            "docs_consumed": self.docs_consumed,
            "counts": dict(self.counts),
            "split_counts": {k: dict(v) for k, v in self.split_counts.items()},
            "source_tokens": sorted([int(k), int(v)] for k, v in self.source_tokens.items()),
            "lang_sequences": {k: sorted([int(lang), int(n)] for lang, n in v.items()) for k, v in self.lang_sequences.items()},
            "seen": self.seen.to_array(),
            "packers": {f"{split}:{lang}": packer.state() for (split, lang), packer in packers.items()},
            "records": self.records,
        }

    def commit(self, folder: Path, identity_hash: str, packers: Mapping[PackerKey, Packer]) -> None:
        """The single atomic claim that parts [0, self.part) are complete."""
        write_state(folder / STATE_FILE, self.state(identity_hash, packers))
        write_json(
            folder / PROGRESS_FILE,
            {"config_hash": identity_hash, "parts_done": self.part, "documents_consumed": self.docs_consumed, "shards": self.records},
        )

    # -- restoring -----------------------------------------------------------------------------------------
    def restore(self, state: Dict, packers: Mapping[PackerKey, Packer]) -> None:
        """Continue from ``state`` (checked by ``check_state``); the packers take their saved states."""
        self.part = state["part"]
        self.docs_consumed = state["docs_consumed"]
        self.counts = Counter(state["counts"])
        self.split_counts = {k: Counter(v) for k, v in state["split_counts"].items()}
        self.source_tokens = Counter({source: tokens for source, tokens in state["source_tokens"]})
        self.lang_sequences = {k: Counter({lang: n for lang, n in v}) for k, v in state["lang_sequences"].items()}
        self.seen = HashTable64.from_array(state["seen"])
        for key, packer_state in state["packers"].items():
            split, lang = key.split(":")
            packers[(split, int(lang))].restore(packer_state)
        self.records = state["records"]


def finished(folder: Path) -> None:
    """The shard set is complete: the resume state and its mirror go (before the manifest is written)."""
    (folder / STATE_FILE).unlink(missing_ok=True)
    (folder / PROGRESS_FILE).unlink(missing_ok=True)


def resume(folder: Path, identity_hash: str, overwrite: bool, languages: int, sources: int, packers: Mapping[PackerKey, Packer]) -> Progress:
    """The progress to continue from in ``folder`` (whose lock the caller holds): the committed state of this
    configuration (its packers restored into ``packers``) or a fresh start; the files it does not claim are
    deleted. A state that cannot be read or trusted is a ``PrepareError`` and nothing is deleted."""
    progress = Progress()
    state_path = folder / STATE_FILE
    state: Optional[Dict] = None
    if (folder / LEGACY_STATE_FILE).exists():
        log.warning(
            "%s: ignoring %s (an older workbench's pickled resume state is never loaded: unpickling can run code);"
            " the shard set is prepared from the start", folder, LEGACY_STATE_FILE,
        )
    if state_path.exists() and not overwrite:
        try:
            state = read_state(state_path)
        except StateFileError as error:
            raise PrepareError(
                f"{error}; delete {folder} (or choose another paths.shards) to prepare this shard set from the start"
            ) from None
        if state.get("identity_hash") != identity_hash:
            log.info("%s: the resume state is of another configuration: the shard set is prepared from the start", folder)
            state = None
        else:
            check_state(state, state_path, languages, sources, packers)
    if state is None:
        clear(folder)
    else:
        progress.restore(state, packers)
        clear(folder, keep=progress.claimed_files())  # anything a killed run left unclaimed
    return progress


def check_state(state: Dict, path: Path, languages: int, sources: int, packers: Iterable[PackerKey]) -> None:
    """Refuse a state of this configuration that is not what ``Progress.state`` writes, before any of it is used."""

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
        pairs(f"lang_sequences.{split}", state["lang_sequences"][split], languages)
    pairs("source_tokens", state.get("source_tokens"), sources)
    int_array("seen", state.get("seen"), np.uint64)
    saved = state.get("packers")
    expected = {f"{split}:{lang}" for split, lang in packers}
    if not isinstance(saved, dict) or set(saved) != expected:
        fail("packers", f"does not have the packers {sorted(expected)}")
    for key, packer in saved.items():
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
                if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") or not is_our_file(name):
                    fail(f"{key}.files", f"names {name!r}, not a shard file of this folder")
