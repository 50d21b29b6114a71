"""Shard files: writing one shard atomically, and reading a finished shard set.

Layout of a shard set folder (one shard ``k`` per split per part):

- ``<split>.<k>.tokens``     raw memmap of token ids (uint16 when the vocabulary fits, else uint32)
- ``<split>.<k>.index.npy``  int64 ``[n_sequences + 1]`` start offsets of the sequences in the tokens file
- ``<split>.<k>.lang.npy``   uint8 language id per sequence (corpora with several languages)
- ``<split>.<k>.nsp.npy``    uint8 is_random_next per sequence (sentence_pairs)
- ``<split>.<k>.types.npy``  int32 per sequence: first position of token type 1 (sentence_pairs, BERT family)
- ``manifest.json``          written last; lists every shard with its counts and sha256

Sequences are stored with their special tokens: the loader only pads.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from workbench.artifacts.atomic import atomic_file
from workbench.corpus.packing import Packed, PackedBatch
from workbench.artifacts.hashing import sha256_file

MANIFEST = "manifest.json"
SPLITS = ("train", "valid")
EXTRA_ARRAYS = {"lang": np.uint8, "nsp": np.uint8, "types": np.int32}


class ShardError(ValueError):
    """A shard set folder is missing, unfinished or inconsistent; the message names it."""


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def shard_files(split: str, k: int, extras: List[str]) -> Dict[str, str]:
    files = {"tokens": f"{split}.{k}.tokens", "index": f"{split}.{k}.index.npy"}
    files.update({name: f"{split}.{k}.{name}.npy" for name in extras})
    return files


class ShardWriter:
    """Appends sequences to one shard of one split; ``close`` makes its files appear complete or not at all."""

    FLUSH_TOKENS = 1 << 20

    def __init__(self, folder: Path, split: str, k: int, dtype: np.dtype, extras: List[str]) -> None:
        self.folder = folder
        self.split = split
        self.k = k
        self.dtype = dtype
        self.extras = list(extras)
        self.files = shard_files(split, k, self.extras)
        self.tmp_tokens = folder / f".{self.files['tokens']}.tmp"
        self.handle = open(self.tmp_tokens, "wb")
        self.digest = hashlib.sha256()
        self.ends: List[np.ndarray] = []  # end offsets of the sequences, one array per batch
        self.n_sequences = 0
        self.extra_values: Dict[str, List[np.ndarray]] = {name: [] for name in self.extras}
        self._single_ends: List[int] = []  # sequences added one by one since the last batch
        self._single_extras: Dict[str, List[int]] = {name: [] for name in self.extras}
        self.buffer: List[np.ndarray] = []
        self.buffered = 0
        self.tokens = 0

    def add(self, packed: Packed, lang_id: int) -> None:
        """Append one sequence (kept as plain numbers until the next batch or the close)."""
        self.buffer.append(packed.ids)
        self.buffered += len(packed.ids)
        self.tokens += len(packed.ids)
        self.n_sequences += 1
        self._single_ends.append(self.tokens)
        extras = self._single_extras
        if "lang" in extras:
            extras["lang"].append(lang_id)
        if "nsp" in extras:
            extras["nsp"].append(packed.is_random_next)
        if "types" in extras:
            extras["types"].append(packed.segment_start)
        if self.buffered >= self.FLUSH_TOKENS:
            self._flush()

    def _settle_singles(self) -> None:
        if self._single_ends:
            self.ends.append(np.asarray(self._single_ends, dtype=np.int64))
            self._single_ends = []
            for name, values in self._single_extras.items():
                self.extra_values[name].append(np.asarray(values, dtype=EXTRA_ARRAYS[name]))
                self._single_extras[name] = []

    def add_batch(self, batch: PackedBatch, lang_id: int) -> None:
        """Append consecutive sequences (all of language ``lang_id``)."""
        n = len(batch.lengths)
        if n == 0:
            return
        self._settle_singles()
        self.buffer.append(batch.ids)
        self.buffered += len(batch.ids)
        ends = np.cumsum(batch.lengths) + self.tokens
        self.ends.append(ends)
        self.tokens = int(ends[-1])
        self.n_sequences += n
        extras = self.extra_values
        if "lang" in extras:
            extras["lang"].append(np.full(n, lang_id, dtype=EXTRA_ARRAYS["lang"]))
        if "nsp" in extras:
            extras["nsp"].append(np.asarray(batch.is_random_next, dtype=EXTRA_ARRAYS["nsp"]))
        if "types" in extras:
            extras["types"].append(np.asarray(batch.segment_starts, dtype=EXTRA_ARRAYS["types"]))
        if self.buffered >= self.FLUSH_TOKENS:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            data = np.concatenate(self.buffer).astype(self.dtype, copy=False).tobytes()
            self.handle.write(data)
            self.digest.update(data)
        self.buffer = []
        self.buffered = 0

    @property
    def sequences(self) -> int:
        return self.n_sequences

    def close(self) -> Dict:
        """Write index and extras atomically, then rename the tokens file; returns the shard record."""
        self._settle_singles()
        self._flush()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        with atomic_file(self.folder / self.files["index"], "wb") as handle:
            np.save(handle, np.concatenate([np.zeros(1, dtype=np.int64), *self.ends]).astype(np.int64, copy=False))
        for name in self.extras:
            with atomic_file(self.folder / self.files[name], "wb") as handle:
                values = self.extra_values[name]
                np.save(handle, np.concatenate(values) if values else np.zeros(0, dtype=EXTRA_ARRAYS[name]))
        os.replace(self.tmp_tokens, self.folder / self.files["tokens"])
        return {
            "split": self.split,
            "shard": self.k,
            "sequences": self.sequences,
            "tokens": self.tokens,
            "files": self.files,
            "sha256": self.digest.hexdigest(),
        }

    def abort(self) -> None:
        if not self.handle.closed:
            self.handle.close()
        self.tmp_tokens.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ reading
@dataclass
class _Shard:
    tokens: np.ndarray  # memmap (or empty array)
    offsets: np.ndarray  # int64 [n+1]


class ShardSplit:
    """Random access to the sequences of one split across its shards."""

    def __init__(self, folder: Path, name: str, records: List[Dict], dtype: np.dtype, token_types: bool) -> None:
        self.name = name
        self.folder = folder
        self.shards: List[_Shard] = []
        extras: Dict[str, List[np.ndarray]] = {}
        lengths: List[np.ndarray] = []
        for record in records:
            files = record["files"]
            tokens_path = folder / files["tokens"]
            if not tokens_path.exists():
                raise ShardError(f"shard file {tokens_path} is missing; the shard set is damaged, prepare it again")
            if record["tokens"]:
                tokens = np.memmap(tokens_path, dtype=dtype, mode="r")
            else:
                tokens = np.zeros(0, dtype=dtype)
            offsets = np.load(folder / files["index"])
            if len(tokens) != record["tokens"] or len(offsets) != record["sequences"] + 1 or offsets[-1] != len(tokens):
                raise ShardError(f"shard {tokens_path} does not match its manifest entry; prepare the shard set again")
            self.shards.append(_Shard(tokens, offsets))
            lengths.append(np.diff(offsets))
            for name in files:
                if name in EXTRA_ARRAYS:
                    extras.setdefault(name, []).append(np.load(folder / files[name]))
        counts = np.array([len(s.offsets) - 1 for s in self.shards], dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self.extras: Dict[str, np.ndarray] = {name: np.concatenate(parts) for name, parts in extras.items()}
        self.token_types = token_types

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())

    def _locate(self, index: int) -> tuple[int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sequence {index} out of range for split {self.name!r} of {len(self)} sequences")
        if index < 0:
            index += len(self)
        shard = int(np.searchsorted(self.starts, index, side="right")) - 1
        return shard, index - int(self.starts[shard])

    def __getitem__(self, index: int) -> np.ndarray:
        """Token ids of sequence ``index`` (int64, special tokens included)."""
        shard, local = self._locate(int(index))
        s = self.shards[shard]
        return np.asarray(s.tokens[s.offsets[local] : s.offsets[local + 1]], dtype=np.int64)

    def view(self, index: int) -> np.ndarray:
        """Token ids of sequence ``index`` as stored (uint16/uint32 memmap view, no copy)."""
        shard, local = self._locate(int(index))
        s = self.shards[shard]
        return s.tokens[s.offsets[local] : s.offsets[local + 1]]

    @property
    def langs(self) -> Optional[np.ndarray]:
        return self.extras.get("lang")

    @property
    def nsp_labels(self) -> Optional[np.ndarray]:
        return self.extras.get("nsp")

    @property
    def segment_starts(self) -> Optional[np.ndarray]:
        return self.extras.get("types")

    def token_type_ids(self, index: int) -> Optional[np.ndarray]:
        """Token types of sequence ``index`` (BERT pairs: 0 up to and including the first [SEP], then 1)."""
        starts = self.segment_starts
        if starts is None:
            return None
        length = int(self.lengths[index])
        types = np.zeros(length, dtype=np.int64)
        if self.token_types:
            types[int(starts[index]) :] = 1
        return types

    def sample(self, index: int) -> Dict[str, object]:
        """One sequence with its extras: input_ids, and token_type_ids / nsp_label / lang when present."""
        out: Dict[str, object] = {"input_ids": self[index]}
        types = self.token_type_ids(index)
        if types is not None:
            out["token_type_ids"] = types
        if self.nsp_labels is not None:
            out["nsp_label"] = int(self.nsp_labels[index])
        if self.langs is not None:
            out["lang"] = int(self.langs[index])
        return out


class ShardSet:
    """A finished shard set: ``ShardSet.open(dir).split("train")[i]``."""

    def __init__(self, folder: Path, manifest: Dict) -> None:
        self.folder = folder
        self.manifest = manifest
        self.dtype = np.dtype(manifest["dtype"])
        self.vocab_size: int = manifest["vocab_size"]
        self.languages: List[str] = manifest["languages"]
        self.mode: str = manifest["packing"]["mode"]
        self.max_seq_len: int = manifest["packing"]["max_seq_len"]
        self._splits: Dict[str, ShardSplit] = {}

    @classmethod
    def open(cls, folder: str | Path) -> "ShardSet":
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.exists():
            raise ShardError(
                f"{folder} is not a finished shard set (no {MANIFEST});"
                " prepare it first: python -m workbench prepare corpus=<name> tokenizer=<name>"
            )
        return cls(folder, json.loads(path.read_text(encoding="utf-8")))

    @property
    def split_names(self) -> List[str]:
        return [name for name in SPLITS if name in self.manifest["splits"]]

    def split(self, name: str) -> ShardSplit:
        if name not in self.manifest["splits"]:
            raise ShardError(f"shard set {self.folder} has no split {name!r}; it has: {', '.join(self.manifest['splits'])}")
        if name not in self._splits:
            info = self.manifest["splits"][name]
            self._splits[name] = ShardSplit(self.folder, name, info["shards"], self.dtype, self.manifest["token_type_ids"])
        return self._splits[name]

    def verify(self) -> None:
        """Recompute the sha256 of every tokens file and compare with the manifest."""
        for name, info in self.manifest["splits"].items():
            for record in info["shards"]:
                path = self.folder / record["files"]["tokens"]
                if sha256_file(path) != record["sha256"]:
                    raise ShardError(f"{path} does not match the sha256 in {self.folder / MANIFEST}; prepare it again")
