"""train reuses runs/<run>/model only when the run was trained with this config (workbench.stages.train.run_decision):
keys that do not change the weights (logging, checkpoint cadence, hardware, later stages) are not compared; another
config is refused naming what differs, and the finished run is left untouched."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from workbench.artifacts.atomic import write_json
from workbench.artifacts.provenance import provenance
from workbench.artifacts.reuse import Rebuild, Reuse
from workbench.config.choices import ConfigError
from workbench.stages.train import _reuse_or_refuse, run_decision, train

from .conftest import compose_config


def _config(tmp_path: Path, *extra: str):
    return compose_config("pipeline", [f"paths.runs={tmp_path}/runs", "run_name=probe", "+model=camembert_tiny",
                                    "trainer.max_steps=10", *extra])


def _finished_run(tmp_path: Path, cfg) -> Path:
    """A run folder as a finished pretraining leaves it (the manifest is provenance(cfg, steps, validation, ...))."""
    model = tmp_path / "runs" / cfg.run_name / "model"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    write_json(model / "manifest.json", provenance(cfg, steps=10, validation={"loss": 2.5}, weights_sha256="0" * 64))
    return model.parent


def test_a_run_of_this_config_is_reused_whatever_its_logging_hardware_or_tasks(tmp_path, caplog):
    cfg = _config(tmp_path)
    out = _finished_run(tmp_path, cfg)
    same = _config(tmp_path, "trainer.log_every=1", "trainer.keep_last=9", "trainer.stop_at_step=5", "hardware.num_threads=2",
                   "hardware.precision=bf16", "task=sample_nli", "finetune.lr=0.5", f"run_dir={out}")
    assert isinstance(run_decision(same, out), Reuse)
    with caplog.at_level(logging.INFO, logger="workbench.stages.train"):
        result = _reuse_or_refuse(same, out)
    assert result is not None and (result.steps, result.validation) == (10, {"loss": 2.5})
    assert f"run {out} is finished with this config" in caplog.text


def test_a_run_of_another_config_is_refused_naming_what_differs_and_left_untouched(tmp_path):
    cfg = _config(tmp_path)
    out = _finished_run(tmp_path, cfg)
    before = {p: p.read_bytes() for p in (out / "model").iterdir()}
    other = _config(tmp_path, "trainer.max_steps=20", "model.hidden_size=64", "seed=3")
    decision = run_decision(other, out)
    assert isinstance(decision, Rebuild) and decision.conflicts
    assert decision.differences == ("model.hidden_size=128 in the folder, 64 in this config", "seed=0 in the folder, 3 in this config",
                                    "trainer.max_steps=10 in the folder, 20 in this config")
    with pytest.raises(ConfigError) as error:
        train(other)
    message = str(error.value)
    assert message.startswith(f"{out} holds a finished run trained with another config (model.hidden_size=128 in the folder,")
    assert "run_name=probe-v2" in message and f"or delete {out} to train it again" in message
    assert {p: p.read_bytes() for p in (out / "model").iterdir()} == before


def test_a_run_from_an_older_workbench_is_compared_on_the_keys_it_records(tmp_path):
    """Keys added to the config since the run was trained are not compared (they keep the earlier behaviour)."""
    cfg = _config(tmp_path)
    out = _finished_run(tmp_path, cfg)
    manifest = json.loads((out / "model" / "manifest.json").read_text(encoding="utf-8"))
    for key in ("init_from", "init_from_extend_vocab"):
        del manifest["config"][key]
    del manifest["config"]["trainer"]["compile"]
    write_json(out / "model" / "manifest.json", manifest)
    assert isinstance(run_decision(cfg, out), Reuse)
    assert isinstance(run_decision(dataclasses.replace(cfg, seed=1), out), Rebuild)


def test_no_finished_model_is_trained_or_resumed_saying_why(tmp_path, caplog):
    cfg = _config(tmp_path)
    out = tmp_path / "runs" / cfg.run_name
    decision = run_decision(cfg, out)
    assert isinstance(decision, Rebuild) and not decision.conflicts and decision.reason == f"{out / 'model'} is not built yet"
    (out / "checkpoints" / "step-00000005").mkdir(parents=True)
    with caplog.at_level(logging.INFO, logger="workbench.stages.train"):
        assert _reuse_or_refuse(cfg, out) is None
    assert f"run {out}: training ({out / 'model'} is not built yet)" in caplog.text
