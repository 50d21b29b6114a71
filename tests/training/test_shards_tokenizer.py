"""train refuses shards prepared with another tokenizer than the folder it loads (e.g. retrained under the same name)."""

from __future__ import annotations

import json
import shutil

import pytest

from workbench.artifacts.layout import shards_dir
from workbench.config.choices import ConfigError
from workbench.corpus.identity import tokenizer_identity
from workbench.corpus.shards import ShardSet
from workbench.stages.train import train
from workbench.tokenization.tokenizer import Tokenizer

from .conftest import TINY_RUN, SampleArtifacts, compose_config


def test_train_refuses_shards_of_another_tokenizer(sample_artifacts, tmp_path):
    copy = SampleArtifacts(tmp_path / "artifacts")
    shutil.copytree(sample_artifacts.root / "tokenizers", copy.root / "tokenizers")
    shutil.copytree(sample_artifacts.root / "shards", copy.root / "shards")
    cfg = compose_config("pipeline", [*TINY_RUN, *copy.paths(tmp_path / "runs"), "trainer.max_steps=1", "run_name=ties"])
    folder = copy.root / "tokenizers" / cfg.tokenizer.name
    shards_folder = shards_dir(cfg)  # the set train opens (other tests may add sets with other lengths)
    recorded = ShardSet.open(shards_folder).manifest["tokenizer"]["sha256"]
    # "retrained": the same pieces, two of them swapped, so every id of those two pieces means the other one now
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    if isinstance(vocab, dict):  # BPE / WordPiece: piece -> id
        a, b = sorted(vocab, key=vocab.get)[10:12]
        vocab[a], vocab[b] = vocab[b], vocab[a]
    else:  # unigram: [piece, score] in id order
        vocab[10][0], vocab[11][0] = vocab[11][0], vocab[10][0]
    (folder / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    actual = tokenizer_identity(Tokenizer.load(folder))["sha256"]
    assert actual != recorded

    with pytest.raises(ConfigError) as error:
        train(cfg)
    message = str(error.value)
    assert f"the shards record tokenizer sha256 {recorded}" in message and f"{folder} holds sha256 {actual}" in message
    assert str(shards_folder) in message and "Re-run prepare" in message
    assert not (tmp_path / "runs" / "ties").exists()  # refused before the run folder is made
