"""Import fairseq binarized data (``<split>.bin``/``<split>.idx`` + ``dict.txt``) as a workbench shard set.

Reads both index formats fairseq writes: ``mmap`` (``MMIDIDX``, fairseq-preprocess's default) and the
legacy ``cached``/``lazy`` TorchNet format (``TNTIDX``, values stored +1 as fairseq's Lua-compatible writer
does), and ``<split>1``, ``<split>2``... after ``<split>`` as ``load_indexed_dataset(combine=True)`` does.

Each fairseq item becomes one stored sequence: ``cls`` + the item (fairseq-preprocess items end with
``</s>``; the masked_lm task prepends ``<s>`` itself), so the shards hold exactly what fairseq trains on.
fairseq indices map to the tokenizer's ids by role for ``<s> <pad> </s> <unk>`` (indices 0-3 -> cls, pad,
sep, unk) and by symbol for the rest. A symbol the tokenizer lacks is an error when it occurs in the data.
A folder written by :func:`workbench.corpus.fairseq_export.export_fairseq` comes back with the same
sequences (same packing mode and length, ``stream`` windows without an added ``cls``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from workbench.artifacts.atomic import atomic_dir, write_json
from workbench.artifacts.provenance import provenance
from workbench.corpus.identity import tokenizer_identity
from workbench.corpus.packing import Packed
from workbench.corpus.shards import MANIFEST, SPLITS, ShardWriter, token_dtype
from workbench.interop.fairseq_dictionary import FairseqDictionary, read_fairseq_dictionary
from workbench.interop.fairseq_sentencepiece import fairseq_names
from workbench.interop.hf_config import InteropError
from workbench.tokenization.tokenizer import Tokenizer

MMAP_MAGIC = b"MMIDIDX\x00\x00"
LEGACY_MAGIC = b"TNTIDX\x00\x00"
CODE_TO_DTYPE = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.double,
                 8: np.uint16, 9: np.uint32, 10: np.uint64}
SHARD_TOKENS = 1 << 24


class IndexedData:
    """The items of one fairseq ``.bin``/``.idx`` pair, as int64 arrays of dictionary indices."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        index, data = Path(f"{prefix}.idx"), Path(f"{prefix}.bin")
        for path in (index, data):
            if not path.is_file():
                raise InteropError(f"fairseq dataset file {path} does not exist")
        header = index.read_bytes()[:64]
        if header.startswith(MMAP_MAGIC):
            self._read_mmap(index)
        elif header.startswith(LEGACY_MAGIC):
            self._read_legacy(index)
        else:
            raise InteropError(f"{index}: not a fairseq index (magic {header[:8]!r}; expected MMIDIDX or TNTIDX)")
        self.data = np.memmap(data, dtype=self.dtype, mode="r") if data.stat().st_size else np.zeros(0, self.dtype)
        end = int(self.starts[-1] + self.sizes[-1]) if len(self.sizes) else 0
        if end > len(self.data):
            raise InteropError(f"{data}: {len(self.data)} values but {index} addresses {end}; the pair is truncated")

    def _dtype(self, code: int, index: Path) -> np.dtype:
        if code not in CODE_TO_DTYPE or np.dtype(CODE_TO_DTYPE[code]).kind == "f":
            raise InteropError(f"{index}: unsupported token dtype code {code}")
        return np.dtype(CODE_TO_DTYPE[code])

    def _read_mmap(self, index: Path) -> None:
        with open(index, "rb") as stream:
            stream.read(9)
            (version,) = struct.unpack("<Q", stream.read(8))
            if version != 1:
                raise InteropError(f"{index}: mmap index version {version}, expected 1")
            (code,) = struct.unpack("<B", stream.read(1))
            (length,) = struct.unpack("<Q", stream.read(8))
            offset = stream.tell()
        self.dtype = self._dtype(code, index)
        raw = np.memmap(index, dtype=np.uint8, mode="r")
        self.sizes = np.frombuffer(raw, dtype=np.int32, count=length, offset=offset).astype(np.int64)
        pointers = np.frombuffer(raw, dtype=np.int64, count=length, offset=offset + 4 * length)
        self.starts = pointers // self.dtype.itemsize
        self.shift = 0

    def _read_legacy(self, index: Path) -> None:
        with open(index, "rb") as stream:
            stream.read(8)
            (version,) = struct.unpack("<Q", stream.read(8))
            if version != 1:
                raise InteropError(f"{index}: TNTIDX index version {version}, expected 1")
            code, _element_size = struct.unpack("<QQ", stream.read(16))
            length, num_sizes = struct.unpack("<QQ", stream.read(16))
            dim_offsets = np.frombuffer(stream.read(8 * (length + 1)), dtype=np.int64)
            data_offsets = np.frombuffer(stream.read(8 * (length + 1)), dtype=np.int64)
            dims = np.frombuffer(stream.read(8 * num_sizes), dtype=np.int64)
        self.dtype = self._dtype(code, index)
        if np.any(np.diff(dim_offsets) != 1):
            raise InteropError(f"{index}: items are not 1-D token sequences")
        self.sizes = dims[dim_offsets[:-1]].astype(np.int64)
        self.starts = data_offsets[:-1].astype(np.int64)
        self.shift = 1  # fairseq's IndexedDatasetBuilder writes index + 1 (Lua); load_indexed_dataset subtracts it

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.starts[i])
        return np.asarray(self.data[start : start + int(self.sizes[i])], dtype=np.int64) - self.shift


def split_parts(folder: Path, split: str) -> List[IndexedData]:
    """``<split>``, then ``<split>1``, ``<split>2``... while they exist (fairseq's ``combine``)."""
    parts = []
    k = 0
    while True:
        prefix = folder / (split if k == 0 else f"{split}{k}")
        if not Path(f"{prefix}.idx").exists():
            break
        parts.append(IndexedData(prefix))
        k += 1
    return parts


def index_map(dictionary: FairseqDictionary, tokenizer: Tokenizer) -> np.ndarray:
    """fairseq index -> tokenizer id (-1 where the tokenizer has no such symbol)."""
    roles = {dictionary.bos: tokenizer.cls_id, dictionary.pad: tokenizer.pad_id, dictionary.eos: tokenizer.sep_id,
             dictionary.unk: tokenizer.unk_id}
    names = fairseq_names(dictionary)
    mapping = np.full(len(dictionary), -1, dtype=np.int64)
    for index, (name, symbol) in enumerate(zip(names, dictionary.symbols)):
        if index in roles:
            mapping[index] = roles[index]
            continue
        token_id = tokenizer.token_to_id(name)
        if token_id is None:
            token_id = tokenizer.token_to_id(symbol)
        if token_id is not None:
            mapping[index] = token_id
    return mapping


def _export_manifest(folder: Path) -> Optional[Dict]:
    path = folder / "manifest.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == "fairseq-mmap" and "packing" in data:
            return data
    return None


def _mapped_items(parts: Sequence[IndexedData], mapping: np.ndarray, dictionary: FairseqDictionary,
                  prepend: Optional[int]) -> Iterator[np.ndarray]:
    for part in parts:
        for i in range(len(part)):
            item = part[i]
            if item.size and (item.min() < 0 or item.max() >= len(mapping)):
                raise InteropError(f"{part.prefix}: item {i} has index {int(item.max())} outside the dictionary ({len(mapping)})")
            ids = mapping[item]
            if ids.size and ids.min() < 0:
                bad = dictionary.symbols[int(item[np.argmin(ids)])]
                raise InteropError(f"{part.prefix}: item {i} uses symbol {bad!r}, which the tokenizer does not have")
            yield ids if prepend is None else np.concatenate(([prepend], ids))


def _write_split(folder: Path, name: str, items: Iterator[np.ndarray], dtype: np.dtype, shard_tokens: int) -> tuple[List[Dict], int]:
    """Shards of one split; returns their records and the longest sequence."""
    records: List[Dict] = []
    writer: Optional[ShardWriter] = None
    longest = 0
    try:
        for ids in items:
            if writer is None:
                writer = ShardWriter(folder, name, len(records), dtype, [])
            writer.add(Packed(ids), 0)
            longest = max(longest, len(ids))
            if writer.tokens >= shard_tokens:
                records.append(writer.close())
                writer = None
        if writer is not None:
            records.append(writer.close())
            writer = None
    finally:
        if writer is not None:
            writer.abort()
    return records, longest


def import_fairseq_dataset(folder: str | Path, tokenizer: Tokenizer, out_dir: str | Path, language: str = "und",
                           shard_tokens: int = SHARD_TOKENS) -> Dict:
    """Write the fairseq data in ``folder`` (``dict.txt`` + splits) as a shard set ``out_dir`` (a new folder,
    appearing complete or not at all); returns its manifest."""
    folder, out_dir = Path(folder), Path(out_dir)
    if out_dir.exists():
        raise InteropError(f"{out_dir} already exists; choose a new folder for the imported shard set")
    dictionary = read_fairseq_dictionary(folder / "dict.txt", add_mask=False)
    exported = _export_manifest(folder)
    mode = exported["packing"]["mode"] if exported else "line_by_line"
    mapping = index_map(dictionary, tokenizer)
    prepend = None if mode == "stream" else tokenizer.cls_id
    splits: Dict[str, List[IndexedData]] = {name: split_parts(folder, name) for name in SPLITS}
    if not splits["train"]:
        raise InteropError(f"{folder}: no train.idx/train.bin; nothing to import")
    dtype = token_dtype(tokenizer.vocab_size)
    with atomic_dir(out_dir) as tmp:
        records: Dict[str, List[Dict]] = {}
        longest = 0
        for name, parts in splits.items():
            records[name], split_longest = _write_split(
                tmp, name, _mapped_items(parts, mapping, dictionary, prepend), dtype, shard_tokens)
            longest = max(longest, split_longest)
        max_seq_len = exported["packing"]["max_seq_len"] if exported else longest
        if longest > max_seq_len:
            raise InteropError(f"{folder}: a sequence of {longest} tokens exceeds the export's max_seq_len={max_seq_len}")
        manifest = _manifest(folder, dictionary, tokenizer, records, mode, max_seq_len, dtype, language, splits)
        write_json(tmp / MANIFEST, manifest)  # last: the folder is now a finished shard set
    return manifest


def _manifest(folder: Path, dictionary: FairseqDictionary, tokenizer: Tokenizer, records: Dict[str, List[Dict]],
              mode: str, max_seq_len: int, dtype: np.dtype, language: str, splits: Dict[str, List[IndexedData]]) -> Dict:
    split_info = {
        name: {"documents": None, "sequences": sum(r["sequences"] for r in recs), "tokens": sum(r["tokens"] for r in recs),
               "sequences_per_language": {language: sum(r["sequences"] for r in recs)}, "shards": recs}
        for name, recs in records.items()
    }
    identity = {"imported_from": str(folder.resolve()), "dictionary_size": len(dictionary),
                "tokenizer": tokenizer_identity(tokenizer), "packing": {"mode": mode, "max_seq_len": max_seq_len}}
    train_tokens = float(split_info["train"]["tokens"])
    return provenance(
        identity,
        format="workbench-shards",
        format_version=1,
        dtype=str(dtype),
        vocab_size=tokenizer.vocab_size,
        tokenizer={**tokenizer_identity(tokenizer), "directory": str(tokenizer.directory)},
        special_ids={"pad": tokenizer.pad_id, "cls": tokenizer.cls_id, "sep": tokenizer.sep_id,
                     "mask": tokenizer.mask_id, "unk": tokenizer.unk_id},
        packing={"mode": mode, "max_seq_len": max_seq_len},
        languages=[language],
        extras=[],
        token_type_ids=False,
        splits=split_info,
        counts={},
        dropped={},
        language_sampling={"alpha": 1.0, "languages": {language: {"weighted_tokens": train_tokens, "p": 1.0, "q": 1.0}}},
        inputs=[{"path": str(p.prefix), "items": len(p)} for parts in splits.values() for p in parts],
    )
