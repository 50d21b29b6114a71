"""Every YAML of every config group composes with the real conf/ and converts to typed objects."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
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


def test_unknown_key_in_a_group_yaml_fails(tmp_path):
    conf = tmp_path / "conf"
    import shutil

    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "broken.yaml").write_text("hidden_size: 64\nnum_hedas: 2\n")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises(Exception) as info:
            compose(config_name="train", overrides=["+model=broken"])
    chain = []
    error = info.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__
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
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "trainer" / "broken.yaml").write_text("max_steps: [1, 2\n")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises(Exception):
            compose(config_name="train", overrides=["trainer=broken"])
