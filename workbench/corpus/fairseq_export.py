"""Export a shard set to fairseq's binarized format: ``<split>.bin`` / ``<split>.idx`` (mmap impl) + ``dict.txt``.

fairseq's ``Dictionary`` always starts with ``<s> <pad> </s> <unk>`` (indices 0-3) and then lists
``dict.txt`` in order, so the tokenizer's ids are remapped: cls -> 0, pad -> 1, sep -> 2, unk -> 3, every
other token in id order from 4 (``dict.txt`` holds those tokens with their frequency in the train split).
fairseq's ``masked_lm`` task adds ``<mask>`` with ``add_symbol``, which finds it in ``dict.txt`` for
RoBERTa-style vocabularies.

Each stored sequence becomes one fairseq item without its leading cls token: fairseq-preprocess stores
text followed by ``</s>`` and ``masked_lm`` prepends ``<s>`` to each block, so with
``--sample-break-mode eos`` (or ``complete``) and ``--tokens-per-sample`` >= the shard set's
``max_seq_len``, fairseq trains on exactly the stored sequences. Index layout (fairseq
``MMapIndexedDataset.Index``): magic ``MMIDIDX\\0\\0``, version ``<Q`` 1, dtype code ``<B``, item count
``<Q``, int32 sizes, int64 byte pointers. Token dtype: uint16 below 65500 symbols (what
``best_fitting_int_dtype`` picks), else int32 (dtype code 4, which every fairseq release reads; the uint32
code 9 of recent releases is unknown to older ones).

``workbench.interop.fairseq_dataset.import_fairseq_dataset`` reads such a folder (or one written by
fairseq-preprocess) back into a shard set; the manifest's ``packing`` lets it restore the same sequences.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, List

import numpy as np

from workbench.artifacts.atomic import atomic_file, write_json
from workbench.artifacts.provenance import provenance
from workbench.corpus.identity import tokenizer_mismatch
from workbench.corpus.shards import ShardSet
from workbench.tokenization.tokenizer import Tokenizer

MMAP_MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


class FairseqExportError(ValueError):
    """The shard set cannot be exported to fairseq as asked; the message says why."""


def fairseq_id_map(tokenizer: Tokenizer) -> tuple[np.ndarray, List[str]]:
    """(workbench id -> fairseq index, the dict.txt symbols in fairseq index order from 4)."""
    specials = {tokenizer.cls_id: 0, tokenizer.pad_id: 1, tokenizer.sep_id: 2, tokenizer.unk_id: 3}
    mapping = np.full(tokenizer.vocab_size, -1, dtype=np.int64)
    symbols: List[str] = []
    for token_id in range(tokenizer.vocab_size):
        if token_id in specials:
            mapping[token_id] = specials[token_id]
            continue
        token = tokenizer.id_to_token(token_id)
        if token is None or not token or any(c.isspace() for c in token):
            raise FairseqExportError(f"token id {token_id} ({token!r}) cannot be written to fairseq's dict.txt")
        if token in FAIRSEQ_SPECIALS:
            raise FairseqExportError(
                f"token {token!r} (id {token_id}) is one of fairseq's reserved symbols but not the tokenizer's"
                " matching special token; fairseq's Dictionary would reject it"
            )
        mapping[token_id] = 4 + len(symbols)
        symbols.append(token)
    return mapping, symbols


def _write_index(path: Path, sizes: np.ndarray, dtype: np.dtype) -> None:
    pointers = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes):
        np.cumsum(sizes[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    with atomic_file(path, "wb") as handle:
        handle.write(MMAP_MAGIC)
        handle.write(struct.pack("<Q", 1))
        handle.write(struct.pack("<B", DTYPE_CODES[dtype]))
        handle.write(struct.pack("<Q", len(sizes)))
        handle.write(sizes.astype(np.int32).tobytes(order="C"))
        handle.write(pointers.tobytes(order="C"))


def export_fairseq(shards: ShardSet, tokenizer: Tokenizer, out_dir: str | Path) -> Dict:
    """Write ``train``/``valid`` ``.bin``/``.idx`` and ``dict.txt`` into ``out_dir``; returns its manifest."""
    out_dir = Path(out_dir)
    if shards.mode == "sentence_pairs":
        raise FairseqExportError(
            "fairseq's masked_lm task has no next-sentence objective; export a single-segment shard set"
            " (packing.mode full_sentences, doc_sentences, line_by_line or stream)"
        )
    problem = tokenizer_mismatch(shards, tokenizer)
    if problem is not None:
        raise FairseqExportError(f"{problem}; export with the tokenizer folder the shards were prepared with")
    mapping, symbols = fairseq_id_map(tokenizer)
    size = 4 + len(symbols)
    dtype = np.dtype(np.uint16) if size < 65500 else np.dtype(np.int32)
    counts = np.zeros(size, dtype=np.int64)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name in shards.split_names:
        split = shards.split(name)
        sizes: List[np.ndarray] = []
        with atomic_file(out_dir / f"{name}.bin", "wb") as handle:
            for shard in split.shards:
                tokens = np.asarray(shard.tokens, dtype=np.int64)
                starts = shard.offsets[:-1]
                lengths = np.diff(shard.offsets)  # every stored sequence has at least one token
                # drop each sequence's leading cls (fairseq's masked_lm prepends <s> itself)
                has_cls = tokens[starts] == tokenizer.cls_id
                keep = np.ones(len(tokens), dtype=bool)
                keep[starts[has_cls]] = False
                mapped = mapping[tokens[keep]]
                handle.write(mapped.astype(dtype).tobytes())
                sizes.append(lengths - has_cls)
                if name == "train":
                    counts += np.bincount(mapped, minlength=size)
        all_sizes = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
        _write_index(out_dir / f"{name}.idx", all_sizes, dtype)
        splits[name] = {"items": int(len(all_sizes)), "tokens": int(all_sizes.sum())}
    with atomic_file(out_dir / "dict.txt") as handle:
        for index, symbol in enumerate(symbols, start=4):
            handle.write(f"{symbol} {int(counts[index])}\n")
    manifest = provenance(
        {"shards": str(shards.folder), "shards_config_hash": shards.manifest["config_hash"]},
        format="fairseq-mmap",
        dtype=str(dtype),
        dictionary_size=size,
        packing={"mode": shards.mode, "max_seq_len": shards.max_seq_len},
        splits=splits,
        usage=(
            "fairseq-train <dir> --task masked_lm --sample-break-mode eos"
            f" --tokens-per-sample {shards.max_seq_len} --dataset-impl mmap"
        ),
    )
    write_json(out_dir / "manifest.json", manifest)
    return manifest

