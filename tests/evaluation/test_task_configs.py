"""Every conf/task/*.yaml validates against TaskConfig; the local-file tasks read the real shared files."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from workbench.config.choices import ConfigError
from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.hyperparameters import resolve_hyperparameters
from workbench.evaluation.readers import load_task

REPO = Path(__file__).resolve().parents[2]
# sample_*: the shipped toy tasks; custom_*: templates whose files the user names (tests/evaluation/test_custom_tasks.py)
TASKS = sorted(p for p in (REPO / "conf" / "task").glob("*.yaml") if not p.name.startswith(("sample_", "custom_")))
EXPECTED = {
    "xnli_fr", "pawsx_fr", "cls_books_fr", "cls_dvd_fr", "cls_music_fr", "allocine_fr", "wikineural_fr", "panx_fr",
    "wikiner_fr", "europeana_fr", "piaf_fr", "fquad_fr", "squad_fr", "sst2_en", "mnli_en", "conll2003_en", "squad_v1.1_en",
}


def typed(path: Path) -> TaskConfig:
    merged = OmegaConf.merge(OmegaConf.structured(TaskConfig), OmegaConf.load(path))
    return OmegaConf.to_object(merged)


def test_every_task_config_is_valid_and_named_after_its_file():
    assert {p.stem for p in TASKS} == EXPECTED
    for path in TASKS:
        task = typed(path)
        assert task.name == path.stem
        assert task.language in ("fr", "en")
        assert resolve_hyperparameters(task, FinetuneConfig()).lr == task.recipe.lr


def test_local_task_files_exist_and_read(shared_data):
    local = [typed(p) for p in TASKS if typed(p).format != "datasets" and "shared/data" in (typed(p).train or "")]
    assert {t.name for t in local} == {"cls_books_fr", "cls_dvd_fr", "cls_music_fr", "europeana_fr", "piaf_fr", "sst2_en", "conll2003_en"}
    for task in local:
        for location in (task.train, task.dev, task.test):
            if location is not None:
                assert (REPO / location).is_file(), location
    books = load_task(typed(REPO / "conf/task/cls_books_fr.yaml"), REPO)
    assert (len(books.train), len(books.dev), len(books.tests["test"])) == (1800, 200, 2000)
    piaf = load_task(typed(REPO / "conf/task/piaf_fr.yaml"), REPO)
    assert len(piaf.train) + len(piaf.dev) + len(piaf.tests["test"]) == 3835


def test_finetune_overrides_take_precedence_over_the_recipe():
    task = typed(REPO / "conf/task/conll2003_en.yaml")
    hp = resolve_hyperparameters(task, FinetuneConfig(lr=1e-5, batch_size=8))
    assert (hp.lr, hp.batch_size, hp.epochs) == (1e-5, 8, task.recipe.epochs)
    assert "frozen_lr" not in hp.as_dict()  # only two_phase jobs carry phase-one knobs in their identity
    assert "frozen_lr" in resolve_hyperparameters(task, FinetuneConfig(schedule="two_phase")).as_dict()


def test_invalid_task_configs_fail_with_the_key():
    with pytest.raises(ConfigError, match="kind=token_classification is scored with metric=entity_f1"):
        TaskConfig(name="t", kind="token_classification", metric="accuracy", dev="d")
    with pytest.raises(ConfigError, match="set task.dev .* or task.dev_fraction"):
        TaskConfig(name="t", train="x")
    with pytest.raises(ConfigError, match="format=datasets needs task.hub_name"):
        TaskConfig(name="t", format="datasets", dev="validation")
