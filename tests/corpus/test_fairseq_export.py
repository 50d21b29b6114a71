"""Export to fairseq's binarized format, read back exactly as fairseq reads it; import fairseq data back.

Tests marked ``fairseq`` use the real fairseq (``fairseq-fixed``): its loaders and masked_lm task on our
export, its preprocess and writers for data we import."""

from __future__ import annotations

import struct
import types
from pathlib import Path

import numpy as np
import pytest

from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.fairseq_export import FairseqExportError, export_fairseq, fairseq_id_map
from workbench.corpus.prepare import prepare_corpus
from workbench.corpus.shards import ShardSet
from workbench.interop.fairseq_dataset import IndexedData, import_fairseq_dataset
from workbench.interop.hf_config import InteropError
from tests.interop.test_fairseq_hydra_isolation import fairseq  # noqa: F401 (fixture: fairseq with its own Hydra store)

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


# ------------------------------------------------------------------------------------------------ import
def _stored(shards: ShardSet, name: str) -> list[list[int]]:
    split = shards.split(name)
    return [split[i].tolist() for i in range(len(split))]


def test_export_then_import_gives_the_same_shard_set(exported, roberta_tokenizer, tmp_path):
    shards, folder, _ = exported
    manifest = import_fairseq_dataset(folder, roberta_tokenizer, tmp_path / "back")
    back = ShardSet.open(tmp_path / "back")
    assert (back.mode, back.max_seq_len, back.vocab_size) == (shards.mode, shards.max_seq_len, shards.vocab_size)
    for name in ("train", "valid"):
        assert _stored(back, name) == _stored(shards, name)
        assert manifest["splits"][name]["sequences"] == len(shards.split(name))
    assert manifest["tokenizer"]["sha256"] == shards.manifest["tokenizer"]["sha256"]
    export_fairseq(back, roberta_tokenizer, tmp_path / "again")  # and it exports again, to the same bytes
    for file in ("train.bin", "train.idx", "valid.bin", "valid.idx", "dict.txt"):
        assert (tmp_path / "again" / file).read_bytes() == (folder / file).read_bytes(), file


def test_import_refuses_symbols_the_tokenizer_lacks(exported, bert_tokenizer, tmp_path):
    _, folder, _ = exported
    with pytest.raises(InteropError, match=r"train: item 0 uses symbol '.+', which the tokenizer does not have"):
        import_fairseq_dataset(folder, bert_tokenizer, tmp_path / "x")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))  # nothing half-written
    (tmp_path / "junk.idx").write_bytes(b"NOTANIDX" + bytes(40))
    (tmp_path / "junk.bin").write_bytes(b"")
    with pytest.raises(InteropError, match="not a fairseq index"):
        IndexedData(tmp_path / "junk")


# ------------------------------------------------------------------------------------ against real fairseq
@pytest.mark.fairseq
def test_fairseq_loads_the_export_with_its_own_loaders(fairseq, exported, roberta_tokenizer, monkeypatch):
    if not hasattr(np, "compat"):  # fairseq-fixed 0.12.3.1's TokenBlockDataset(break_mode="eos") uses np.compat.long,
        monkeypatch.setattr(np, "compat", types.SimpleNamespace(long=np.int64), raising=False)  # gone in numpy 2
    from fairseq.data import Dictionary, data_utils
    from fairseq.tasks.masked_lm import MaskedLMConfig, MaskedLMTask

    shards, folder, _ = exported
    dictionary = Dictionary.load(str(folder / "dict.txt"))
    mapping, _ = fairseq_id_map(roberta_tokenizer)
    for name in ("train", "valid"):
        dataset = data_utils.load_indexed_dataset(str(folder / name), dictionary)  # infers the mmap impl
        stored = _stored(shards, name)
        assert len(dataset) == len(stored)
        for i in range(len(stored)):
            # fairseq items: the stored sequence without its leading <s>, in fairseq's indices
            assert dataset[i].tolist() == mapping[stored[i][1:]].tolist()
            assert [dictionary[t] for t in dataset[i]] == [roberta_tokenizer.id_to_token(t) for t in stored[i][1:]]
    # fairseq's masked_lm task, with the settings the manifest recommends, trains on exactly the stored sequences
    cfg = MaskedLMConfig(data=str(folder), tokens_per_sample=shards.max_seq_len, sample_break_mode="eos", skip_masking=True,
                         seed=1)
    task = MaskedLMTask.setup_task(cfg)
    assert task.mask_idx == mapping[roberta_tokenizer.mask_id]
    task.load_dataset("valid")
    samples = task.dataset("valid")
    stored = _stored(shards, "valid")
    assert len(samples) == len(stored)
    for i in range(len(stored)):
        assert samples[i]["net_input.src_tokens"].tolist() == mapping[stored[i]].tolist()


@pytest.mark.fairseq
def test_data_written_by_fairseq_imports(fairseq, prose_files, roberta_tokenizer, tmp_path):
    """fairseq-preprocess (in process, mmap) for train and valid, fairseq's legacy cached writer for train1
    (combined like load_indexed_dataset(combine=True)): each line comes back as <s> line </s>, with fairseq's
    <unk> where a piece was missing from the dictionary fairseq built."""
    from fairseq import options
    from fairseq.data import Dictionary, indexed_dataset
    from fairseq_cli import preprocess

    lines = [line for line in prose_files[1].read_text(encoding="utf-8").splitlines()][:400]
    pieces = [" ".join(roberta_tokenizer.tokenize(line)) for line in lines]
    (tmp_path / "train.tok").write_text("\n".join(pieces[:300]) + "\n", encoding="utf-8")
    (tmp_path / "valid.tok").write_text("\n".join(pieces[300:350]) + "\n", encoding="utf-8")
    data = tmp_path / "data-bin"
    preprocess.main(options.get_preprocessing_parser().parse_args([
        "--only-source", "--trainpref", str(tmp_path / "train.tok"), "--validpref", str(tmp_path / "valid.tok"),
        "--destdir", str(data), "--workers", "1"]))
    dictionary = Dictionary.load(str(data / "dict.txt"))  # fairseq's own order (by frequency, padded to 8)
    builder = indexed_dataset.make_builder(str(data / "train1.bin"), "cached")
    for line in pieces[350:]:
        builder.add_item(dictionary.encode_line(line, add_if_not_exist=False))
    builder.finalize(str(data / "train1.idx"))
    assert (data / "train1.idx").read_bytes()[:8] == b"TNTIDX\x00\x00" and (data / "train.idx").read_bytes()[:9] == b"MMIDIDX\x00\x00"

    manifest = import_fairseq_dataset(data, roberta_tokenizer, tmp_path / "shards")
    shards = ShardSet.open(tmp_path / "shards")
    expected = {"train": lines[:300] + lines[350:], "valid": lines[300:350]}
    unknown = 0
    for name, texts in expected.items():
        want = []
        for text in texts:  # pieces missing from fairseq's dictionary (built from train.tok) were stored as <unk>
            ids = [t if roberta_tokenizer.id_to_token(t) in dictionary.indices else roberta_tokenizer.unk_id
                   for t in roberta_tokenizer.encode(text)]
            unknown += ids.count(roberta_tokenizer.unk_id)
            want.append(roberta_tokenizer.build_inputs(ids)[0])
        assert _stored(shards, name) == want
    assert unknown > 0
    assert shards.mode == "line_by_line" and shards.max_seq_len == max(len(s) for s in _stored(shards, "train") + _stored(shards, "valid"))
    assert manifest["splits"]["train"]["sequences"] == 350
