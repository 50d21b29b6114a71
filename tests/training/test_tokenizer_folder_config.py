"""prepare (and tokenizer) refuse a tokenizer folder trained with another config than the command's, naming
the differing keys and both values, instead of silently tokenizing with the folder."""

from __future__ import annotations

import json

import pytest

from workbench.config.choices import ConfigError
from workbench.stages.prepare import prepare_shards
from workbench.stages.tokenizer import train_vocabulary

from .conftest import compose_config


def _config(sample_artifacts, tmp_path, *extra):
    paths = [f"paths.tokenizers={sample_artifacts.root}/tokenizers", f"paths.shards={tmp_path}/shards", f"paths.runs={tmp_path}/runs"]
    return compose_config("prepare", [*paths, "packing.max_seq_len=64", *extra])


def test_prepare_names_what_differs_from_the_tokenizer_folder(sample_artifacts, tmp_path):
    cfg = _config(sample_artifacts, tmp_path)
    folder = sample_artifacts.root / "tokenizers" / cfg.tokenizer.name
    recorded = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["config"]
    other = "wordpiece" if recorded["algorithm"] != "wordpiece" else "sentencepiece_bpe"
    cfg = _config(sample_artifacts, tmp_path, "tokenizer.vocab_size=1234", f"tokenizer.algorithm={other}")
    with pytest.raises(ConfigError) as error:
        prepare_shards(cfg)
    message = str(error.value)
    assert f"tokenizer.vocab_size={recorded['vocab_size']} in the folder, 1234 in this config" in message
    assert f'tokenizer.algorithm="{recorded["algorithm"]}" in the folder, "{other}" in this config' in message
    assert str(folder) in message and f"tokenizer.name={cfg.tokenizer.name}-v2" in message and "delete the folder" in message
    assert "special_tokens" not in message  # only the keys that differ
    assert not (tmp_path / "shards").exists()  # refused before anything is written
    # the tokenizer stage says the same of its folder
    with pytest.raises(ConfigError, match=r"tokenizer.vocab_size=\d+ in the folder, 1234 in this config"):
        train_vocabulary(cfg)


def test_prepare_with_the_folder_s_own_config_goes_on(sample_artifacts, tmp_path):
    out = prepare_shards(_config(sample_artifacts, tmp_path))
    assert (out / "manifest.json").exists()
