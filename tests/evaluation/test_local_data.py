"""data=local: every listed task composes with no other override and its reader loads the real files under
paths.data, with these counts per split (the public releases' layouts; see docs/evaluation.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.config.choices import ConfigError
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.evaluation.local_data import local_task, tasks_for
from workbench.evaluation.readers import load_task

# task -> (train, dev, test, labels or None): counts of the files described in ../shared/data/SOURCES.md
COUNTS = {
    "allocine_fr": (1800, 200, 1000, ["0", "1"]),
    "cls_books_fr": (1800, 200, 2000, ["negative", "positive"]),
    "cls_dvd_fr": (1800, 200, 2000, ["negative", "positive"]),
    "cls_music_fr": (1800, 200, 2000, ["negative", "positive"]),
    "pawsx_fr": (1003, 399, 598, ["0", "1"]),  # 2000 dev pairs, carved
    "xnli_fr": (1245, 498, 747, ["contradiction", "entailment", "neutral"]),  # 2490 dev pairs, carved by premise
    "panx_fr": (18000, 2000, 10000, None),
    "wikineural_fr": (11340, 1260, 12678, None),
    "europeana_fr": (10042, 1255, 1255, None),
    "piaf_fr": (2955, 500, 380, None),  # 3835 questions, carved by article
    "sst2_en": (63982, 3367, 872, ["0", "1"]),
    "mnli_en": (5881, 984, 2950, ["contradiction", "entailment", "neutral"]),  # 9815 dev-matched pairs, carved
    "conll2003_en": (14041, 3250, 3453, None),
    "squad_v1.1_en": (6435, 1222, 2913, None),  # 10570 dev questions, carved by article
}
CARVED_FROM_DEV = {"pawsx_fr", "xnli_fr", "mnli_en", "squad_v1.1_en"}


def _eval_config(overrides):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name="eval", overrides=overrides))


@pytest.fixture(scope="module")
def local_tasks(shared_data):
    tasks = {}
    for name in COUNTS:
        cfg = _eval_config([f"task={name}", "data=local", f"paths.data={shared_data}"])
        (tasks[name],) = tasks_for(cfg.data, [cfg.task], cfg.paths.data)
    return tasks


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_every_task_reads_its_local_copy(local_tasks, shared_data, name):
    task = local_tasks[name]
    assert task.format != "datasets" and task.hub_name is None and Path(task.train).is_relative_to(shared_data)
    data = load_task(task)
    train, dev, test, labels = COUNTS[name]
    assert (len(data.train), len(data.dev), {k: len(v) for k, v in data.tests.items()}) == (train, dev, {"test": test})
    if labels is not None:
        assert data.labels == labels
    assert (task.not_comparable is not None) == (name in CARVED_FROM_DEV or name in {"allocine_fr", "panx_fr", "wikineural_fr"})


def test_default_paths_data_is_shared_data_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("WORKBENCH_SHARED_DATA", raising=False)
    assert _eval_config(["task=xnli_fr", "data=local"]).paths.data == "../shared/data"
    monkeypatch.setenv("WORKBENCH_SHARED_DATA", "/elsewhere/data")
    assert _eval_config(["task=xnli_fr", "data=local"]).paths.data == "/elsewhere/data"


def test_carved_nli_splits_keep_each_premise_on_one_side(local_tasks):
    data = load_task(local_tasks["xnli_fr"])
    sides = [{e.text for e in split} for split in (data.train, data.dev, data.tests["test"])]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    again = load_task(local_tasks["xnli_fr"])  # deterministic: split_seed only
    assert [e.source for e in again.dev] == [e.source for e in data.dev]


def test_paths_data_chooses_another_folder_and_eval_caps_are_separate(tmp_path):
    folder = tmp_path / "allocine_fr"
    folder.mkdir()
    rows = "".join(f'"review {i}",{i % 2}\n' for i in range(40))
    (folder / "train_data_allocine.csv").write_text("text,label\n" + rows, encoding="utf-8")
    (folder / "test_data_allocine_full.csv").write_text("text,label\n" + rows, encoding="utf-8")
    cfg = _eval_config(["task=allocine_fr", "data=local", f"paths.data={tmp_path}",
                        "task.max_dev_examples=3", "task.max_test_examples=5"])
    (task,) = tasks_for(cfg.data, [cfg.task], cfg.paths.data)
    data = load_task(task)
    assert task.train == str(folder / "train_data_allocine.csv")
    assert (len(data.train), len(data.dev), len(data.tests["test"])) == (36, 3, 5)
    cfg = _eval_config(["task=allocine_fr", "data=local", f"paths.data={tmp_path}", "task.max_eval_examples=2", "task.max_test_examples=7"])
    data = load_task(tasks_for(cfg.data, [cfg.task], cfg.paths.data)[0])
    assert (len(data.dev), len(data.tests["test"])) == (2, 7)  # max_test_examples overrides max_eval_examples for test only


def test_a_task_without_a_local_copy_says_so():
    cfg = _eval_config(["task=fquad_fr", "data=local"])
    with pytest.raises(ConfigError, match=r"task fquad_fr has no local copy \(no `local:` block in conf/task/fquad_fr.yaml\)"):
        local_task(cfg.task, cfg.paths.data)
    assert tasks_for(_eval_config(["task=fquad_fr"]).data, [cfg.task], cfg.paths.data) == [cfg.task]  # data=default
