"""Export to fairseq's binarized format, read back exactly as fairseq reads it."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.fairseq_export import FairseqExportError, export_fairseq
from workbench.corpus.prepare import prepare_corpus
from workbench.corpus.shards import ShardSet

_CODE_TO_DTYPE = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.double, 8: np.uint16}


def _read_mmap_dataset(prefix: Path) -> list[np.ndarray]:
    """fairseq.data.indexed_dataset.MMapIndexedDataset's reading code, line for line (without torch)."""
    with open(f"{prefix}.idx", "rb") as stream:
        assert stream.read(9) == b"MMIDIDX\x00\x00"
        assert struct.unpack("<Q", stream.read(8)) == (1,)
        (code,) = struct.unpack("<B", stream.read(1))
        dtype = _CODE_TO_DTYPE[code]
        length = struct.unpack("<Q", stream.read(8))[0]
        offset = stream.tell()
    buffer = memoryview(np.memmap(f"{prefix}.idx", mode="r", order="C"))
    sizes = np.frombuffer(buffer, dtype=np.int32, count=length, offset=offset)
    pointers = np.frombuffer(buffer, dtype=np.int64, count=length, offset=offset + sizes.nbytes)
    data = memoryview(np.memmap(f"{prefix}.bin", mode="r", order="C"))
    return [np.frombuffer(data, dtype=dtype, count=int(size), offset=int(ptr)) for ptr, size in zip(pointers, sizes)]


def _read_dictionary(path: Path) -> list[str]:
    """fairseq Dictionary(): <s> <pad> </s> <unk>, then add_from_file (duplicates are an error)."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>"]
    for line in path.read_text(encoding="utf-8").splitlines():
        word, field = line.rstrip().rsplit(" ", 1)
        int(field)
        assert word not in symbols, f"fairseq would reject duplicate {word!r}"
        symbols.append(word)
    return symbols


@pytest.fixture(scope="module")
def exported(tmp_path_factory, prose_files, roberta_tokenizer):
    folder = tmp_path_factory.mktemp("fairseq")
    corpus = CorpusConfig(name="f", sources=[SourceConfig(path=str(prose_files[0]))], document_boundary="line", validation_fraction=0.1, max_documents=400)
    prepare_corpus(corpus, PackingConfig(mode="full_sentences", max_seq_len=64, shard_tokens=5000), roberta_tokenizer, folder / "shards", seed=0, progress=False)
    shards = ShardSet.open(folder / "shards")
    manifest = export_fairseq(shards, roberta_tokenizer, folder / "fairseq")
    return shards, folder / "fairseq", manifest


def test_items_are_the_stored_sequences_in_fairseq_indices(exported, roberta_tokenizer):
    shards, folder, manifest = exported
    symbols = _read_dictionary(folder / "dict.txt")
    for name in ("train", "valid"):
        split = shards.split(name)
        items = _read_mmap_dataset(folder / name)
        assert len(items) == len(split) == manifest["splits"][name]["items"] > 0
        for i in range(0, len(split), 7):
            stored = split[i]
            assert stored[0] == roberta_tokenizer.cls_id
            expected = [roberta_tokenizer.id_to_token(t) for t in stored[1:]]
            got = [symbols[t] for t in items[i]]
            assert got[-1] == "</s>" and got == expected  # roberta: <s> </s> <pad> <unk> are fairseq's own
    assert "<mask>" in symbols  # masked_lm's add_symbol("<mask>") finds it


def test_dictionary_counts_are_train_frequencies(exported):
    shards, folder, _ = exported
    items = _read_mmap_dataset(folder / "train")
    counts = np.bincount(np.concatenate(items), minlength=len(_read_dictionary(folder / "dict.txt")))
    listed = [int(line.rsplit(" ", 1)[1]) for line in (folder / "dict.txt").read_text("utf-8").splitlines()]
    assert listed == counts[4:].tolist()


def test_pairs_and_foreign_tokenizers_are_refused(exported, bert_tokenizer, roberta_tokenizer, prose_files, tmp_path):
    shards, _, _ = exported
    with pytest.raises(FairseqExportError, match="not the one"):
        export_fairseq(shards, bert_tokenizer, tmp_path / "x")
    corpus = CorpusConfig(name="p", sources=[SourceConfig(path=str(prose_files[0]))], document_boundary="line", max_documents=50)
    prepare_corpus(corpus, PackingConfig(mode="sentence_pairs", max_seq_len=64), roberta_tokenizer, tmp_path / "pairs", seed=0, progress=False)
    with pytest.raises(FairseqExportError, match="next-sentence"):
        export_fairseq(ShardSet.open(tmp_path / "pairs"), roberta_tokenizer, tmp_path / "y")
    assert not (tmp_path / "y").exists()


@pytest.mark.fairseq
def test_readable_by_fairseq_itself(exported):
    fairseq_data = pytest.importorskip("fairseq.data", reason="fairseq not installed (pip install -e .[fairseq])")
    shards, folder, _ = exported
    dataset = fairseq_data.MMapIndexedDataset(str(folder / "train"))
    dictionary = fairseq_data.Dictionary.load(str(folder / "dict.txt"))
    ours = _read_mmap_dataset(folder / "train")
    assert len(dataset) == len(ours)
    assert all(dataset[i].tolist() == ours[i].tolist() for i in range(len(ours)))
    assert dictionary.index("<mask>") == _read_dictionary(folder / "dict.txt").index("<mask>")
