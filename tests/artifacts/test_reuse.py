"""One reuse policy (workbench.artifacts.reuse): a folder is reused when its manifest records the expected hash;
otherwise the decision says why, naming each key that differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.artifacts.atomic import write_json
from workbench.artifacts.manifest import ManifestError
from workbench.artifacts.provenance import config_hash, provenance
from workbench.artifacts.reuse import Rebuild, Reuse, config_differences, reuse_decision


def _finished(folder: Path, config, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "manifest.json", provenance(config, **extra))
    return folder


def test_the_same_config_is_reused_and_another_is_named_key_by_key(tmp_path):
    config = {"vocab_size": 100, "algorithm": "wordpiece", "special": {"mask": "[MASK]", "pad": "[PAD]"}}
    folder = _finished(tmp_path / "tok", config)
    decision = reuse_decision(folder, config_hash(config))
    assert isinstance(decision, Reuse) and decision.config_hash == config_hash(config) and decision.manifest.config == config
    assert decision.describe() == f"{folder} is finished with this config (config hash {config_hash(config)}): reusing it"

    other = {**config, "vocab_size": 200, "special": {"mask": "<mask>", "pad": "[PAD]"}, "lowercase": True}
    decision = reuse_decision(folder, config_hash(other),
                              differences=lambda manifest: config_differences(manifest.config, other, "tokenizer"))
    assert isinstance(decision, Rebuild) and decision.conflicts
    assert decision.differences == ('tokenizer.lowercase=absent in the folder, true in this config',
                                    'tokenizer.special.mask="[MASK]" in the folder, "<mask>" in this config',
                                    'tokenizer.vocab_size=100 in the folder, 200 in this config')
    assert decision.reason == (f"{folder / 'manifest.json'} records config hash {config_hash(config)}, this config's is"
                               f" {config_hash(other)}: " + "; ".join(decision.differences))


def test_nothing_finished_is_built_without_conflict(tmp_path):
    absent = reuse_decision(tmp_path / "absent", "0" * 16)
    assert isinstance(absent, Rebuild) and not absent.conflicts and absent.reason == f"{tmp_path / 'absent'} is not built yet"
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.0.tokens").write_bytes(b"")
    half = reuse_decision(tmp_path / "half", "0" * 16)
    assert isinstance(half, Rebuild) and not half.conflicts and half.reason == f"{tmp_path / 'half'} is unfinished (no manifest.json)"


def test_an_eval_job_folder_compares_its_job_hash(tmp_path):
    job = _finished(tmp_path / "seed-0", {"task": "nli"}, job_hash="abc123")
    assert isinstance(reuse_decision(job, "abc123", recorded_hash=lambda m: m.require("job_hash", str)), Reuse)
    again = reuse_decision(job, "def456", recorded_hash=lambda m: m.require("job_hash", str))
    assert isinstance(again, Rebuild) and again.conflicts and "records config hash abc123, this config's is def456" in again.reason
    (tmp_path / "hand" / "manifest.json").parent.mkdir()
    write_json(tmp_path / "hand" / "manifest.json", {"note": "no provenance"})
    with pytest.raises(ManifestError, match=r"hand/manifest.json: field 'config_hash' is missing"):
        reuse_decision(tmp_path / "hand", "abc123")
