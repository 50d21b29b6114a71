"""Every YAML of every config group composes with the real conf/ and converts to typed objects."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from hydra.errors import ConfigCompositionException

from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, group_choices, require, to_typed

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())
PRIMARY = ["tokenizer", "tokenizer_report", "prepare", "train", "eval", "report", "pipeline"]


def _compose(config_name: str, overrides: list[str]):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def _override(group: str, name: str) -> str:
    # model and experiment are not in the defaults list: they are appended with '+'.
    return f"+{group}={name}" if group in ("model", "experiment") else f"{group}={name}"


def test_expected_groups_exist():
    for group in ("model", "tokenizer", "corpus", "task", "trainer", "hardware", "experiment"):
        assert group in GROUPS, f"conf/{group}/ is missing"
    assert {"bert_base", "roberta_base", "camembert_base", "flaubert_base"} <= set(group_choices("model"))
    assert {"cpu", "gpu", "multi_gpu", "tpu"} <= set(group_choices("hardware"))
    assert "quickstart" in group_choices("experiment")


@pytest.mark.parametrize("group,name", [(g, n) for g in GROUPS for n in group_choices(g)])
def test_every_group_config_composes_and_types(group, name):
    cfg = _compose("train", [_override(group, name), "run_dir=/tmp/unused"])
    # OmegaConf names list items key[0]; Hydra overrides write key.0
    missing = sorted(re.sub(r"\[(\d+)\]", r".\1", key) for key in OmegaConf.missing_keys(cfg))
    if missing:  # mandatory values left for the command line (e.g. local_text's path) fail naming the key
        with pytest.raises(ConfigError) as info:
            to_typed(cfg)
        assert any(key.split(".")[-1] in str(info.value) for key in missing), (missing, str(info.value))
        cfg = _compose("train", [_override(group, name), "run_dir=/tmp/unused", *(f"{key}=given" for key in missing)])
    typed = to_typed(cfg)
    assert isinstance(typed, WorkbenchConfig)
    section = {"experiment": None}.get(group, getattr(typed, group, None))
    if group == "experiment":
        assert typed.model is not None
    else:
        assert section is not None, f"{group}={name} left cfg.{group} empty"


@pytest.mark.parametrize("primary", PRIMARY)
def test_every_stage_config_composes(primary):
    overrides = ["run_dir=/tmp/unused"] if primary == "train" else []
    typed = to_typed(_compose(primary, overrides))
    assert typed.tokenizer is not None and typed.corpus is not None
    assert typed.model is None  # chosen with +model=


def test_train_accepts_plus_model_exactly_as_written():
    typed = to_typed(_compose("train", ["+model=camembert_base", "run_dir=/tmp/unused"]))
    assert typed.model is not None
    assert typed.model.family == "camembert" and typed.model.hidden_size == 768 and typed.model.num_layers == 12


def test_missing_model_is_a_clear_error_naming_the_choices():
    typed = to_typed(_compose("train", ["run_dir=/tmp/unused"]))
    with pytest.raises(ConfigError) as info:
        require(typed, ["model"], "train")
    message = str(info.value)
    assert "+model=" in message and "camembert_base" in message and "bert_base" in message


def test_misspelled_key_fails_naming_it():
    with pytest.raises(ConfigCompositionException) as info:
        _compose("train", ["trainer.max_stepz=3"])
    assert "max_stepz" in str(info.value.__cause__ or info.value)


def _compose_with_extra_file(tmp_path, relative: str, content: str, overrides: list[str]):
    """Compose ``train`` over a copy of conf/ with one more YAML file; return the exception chain's texts."""
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / relative).write_text(content)
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises(Exception) as info:
            compose(config_name="train", overrides=overrides)
    chain, error = [], info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__
    return chain


def test_unknown_key_in_a_group_yaml_fails(tmp_path):
    chain = _compose_with_extra_file(tmp_path, "model/broken.yaml", "hidden_size: 64\nnum_hedas: 2\n", ["+model=broken"])
    assert any("num_hedas" in text for text in chain)


def test_invalid_choice_fails_at_conversion_naming_key_and_choices():
    cfg = _compose("train", ["+model=bert_tiny", "model.activation=swish", "run_dir=/tmp/unused"])
    with pytest.raises(ConfigError) as info:
        to_typed(cfg)
    assert "model.activation" in str(info.value) and "gelu" in str(info.value)


def test_quickstart_sets_the_whole_chain():
    typed = to_typed(_compose("pipeline", ["+experiment=quickstart"]))
    assert typed.model is not None and typed.model.num_layers <= 4
    assert set(typed.tasks) == {"sentiment", "nli", "ner", "qa"}
    kinds = {t.kind for t in typed.tasks.values()}
    assert kinds == {"classification", "pair_classification", "token_classification", "extractive_qa"}
    assert typed.finetune.model == "runs/quickstart/model"


def test_broken_yaml_syntax_fails(tmp_path):
    chain = _compose_with_extra_file(tmp_path, "trainer/broken.yaml", "max_steps: [1, 2\n", ["trainer=broken"])
    assert any("broken" in text for text in chain)
