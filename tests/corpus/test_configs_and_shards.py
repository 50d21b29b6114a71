"""The corpus config files, the shard dtype rule and the shard reader's checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from workbench.config.choices import ConfigError
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.corpus.packing import Packed
from workbench.corpus.reading import check_sources
from workbench.corpus.shards import ShardError, ShardSet, ShardWriter, token_dtype
from workbench.text.sources import SourceError

MINE = ["french_wikipedia", "oscar_fr", "cc100_fr", "local_text", "french_prose_eltec", "multilingual_fr_en"]
HUB = ["french_wikipedia", "oscar_fr", "cc100_fr"]


def _load(repo_root: Path, name: str) -> CorpusConfig:
    node = OmegaConf.merge(OmegaConf.structured(CorpusConfig), OmegaConf.load(repo_root / "conf" / "corpus" / f"{name}.yaml"))
    if name == "local_text":
        OmegaConf.update(node, "sources.0.path", "/data/*.txt")  # what corpus.sources.0.path=... does
    return OmegaConf.to_object(node)


@pytest.mark.parametrize("name", MINE)
def test_corpus_files_match_the_schema(repo_root, name):
    corpus = _load(repo_root, name)
    assert corpus.name == name and corpus.sources


@pytest.mark.parametrize("name", HUB)
def test_hub_corpora_fail_fast_offline_naming_the_dataset(repo_root, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = _load(repo_root, name)
    with pytest.raises(SourceError) as error:
        check_sources(corpus)
    assert corpus.sources[0].path in str(error.value) and "offline" in str(error.value)


def test_local_corpora_resolve_from_the_repository_root(repo_root, shared_data, monkeypatch):
    monkeypatch.chdir(repo_root)
    check_sources(_load(repo_root, "french_prose_eltec"))
    check_sources(_load(repo_root, "multilingual_fr_en"))
    assert [s.language for s in _load(repo_root, "multilingual_fr_en").sources] == ["fr", "en"]


def test_invalid_values_name_the_key():
    with pytest.raises(ConfigError, match="packing.mode"):
        PackingConfig(mode="group_texts")
    with pytest.raises(ConfigError, match="corpus.normalization"):
        CorpusConfig(name="x", normalization="NFX")


def test_token_dtype_and_uint32_round_trip(tmp_path):
    assert token_dtype(32000) == np.uint16 and token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    writer = ShardWriter(tmp_path, "train", 0, np.dtype(np.uint32), ["lang"])
    sequences = [np.array([0, 70000, 250001, 3]), np.array([5, 65536])]
    for i, ids in enumerate(sequences):
        writer.add(Packed(ids), lang_id=i)
    record = writer.close()
    manifest = {
        "dtype": "uint32", "vocab_size": 250002, "languages": ["fr", "en"], "token_type_ids": False,
        "packing": {"mode": "line_by_line", "max_seq_len": 8},
        "splits": {"train": {"shards": [record]}},
    }
    split = ShardSet(tmp_path, manifest).split("train")
    assert [split[i].tolist() for i in range(2)] == [s.tolist() for s in sequences]
    assert split.langs.tolist() == [0, 1] and split.lengths.tolist() == [4, 2]
    (tmp_path / "train.0.tokens").write_bytes((tmp_path / "train.0.tokens").read_bytes()[:-4])
    with pytest.raises(ShardError, match="does not match its manifest"):
        ShardSet(tmp_path, manifest).split("train")


def test_open_requires_a_finished_folder(tmp_path):
    with pytest.raises(ShardError, match="not a finished shard set"):
        ShardSet.open(tmp_path)
