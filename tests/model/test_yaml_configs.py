"""Every conf/model/*.yaml is a valid EncoderConfig; unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError

from workbench.config.choices import ConfigError
from workbench.model.config import EncoderConfig

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"
NAMES = sorted(p.stem for p in CONF.glob("*.yaml"))


def test_all_flavors_and_sizes_exist():
    for family in ("bert", "roberta", "camembert", "flaubert"):
        for size in ("tiny", "small", "base", "large"):
            assert f"{family}_{size}" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_yaml_merges_into_schema(name):
    data = OmegaConf.load(CONF / f"{name}.yaml")
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(EncoderConfig), data))
    family, size = name.split("_")
    assert config.family == family and config.size == size
    assert config.vocab_size is None  # from the tokenizer
    if family in ("roberta", "camembert"):
        assert config.position_offset == 2 and config.position_rows == config.max_positions + 2
        assert config.type_vocab_size == 1
    if family == "flaubert":
        assert config.type_vocab_size == 0 and not config.pooler and not config.mlm_transform


def test_unknown_key_fails():
    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(OmegaConf.structured(EncoderConfig), {"hiden_size": 10})


def test_invalid_values_name_the_key():
    with pytest.raises(ConfigError, match="model.hidden_size=100 is not divisible by model.num_heads=3"):
        EncoderConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ConfigError, match="model.position_offset"):
        EncoderConfig(position_offset=-1)
    with pytest.raises(ConfigError, match="model.pad_token_id=5"):
        EncoderConfig(vocab_size=5, pad_token_id=5)
