"""Command-line errors as one line: unknown config keys (with or without +), disk full / read-only outputs."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import types

import pytest

from workbench import cli
from workbench.artifacts import atomic
from workbench.config.choices import ConfigError
from workbench.config.keys import check_key_path
from workbench.config.root import WorkbenchConfig


def _run(repo_root, *args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root)}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, cwd=cwd or repo_root,
                          env=env, timeout=120)


@pytest.mark.parametrize("override", ["+trainer.max_step=10", "trainer.max_step=10"])
def test_unknown_key_with_or_without_plus_names_the_closest_key(repo_root, tmp_path, override):
    result = _run(repo_root, "train", "+model=bert_tiny", override, f"paths.runs={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown config key 'trainer.max_step'" in result.stderr and "did you mean trainer.max_steps?" in result.stderr
    assert "+trainer.max_step" not in result.stderr  # Hydra's own advice (append it with +) is wrong for a typo
    assert not (tmp_path / "default").exists()


def test_key_paths_follow_the_schema_through_optionals_lists_and_dicts():
    for key in ("trainer.optimizer.lr", "model.hidden_size", "corpus.sources.0.path", "tasks.nli.max_seq_len", "seed"):
        check_key_path(WorkbenchConfig, key)
    with pytest.raises(ConfigError, match=r"'corpus.sources.0.pth'.*did you mean corpus.sources.0.path\?"):
        check_key_path(WorkbenchConfig, "corpus.sources.0.pth")
    with pytest.raises(ConfigError, match=r"'tasks.nli.max_seq_lenght'.*did you mean tasks.nli.max_seq_len\?"):
        check_key_path(WorkbenchConfig, "tasks.nli.max_seq_lenght")
    with pytest.raises(ConfigError, match=r"unknown config key 'sed'.*did you mean seed\?"):
        check_key_path(WorkbenchConfig, "sed")


def test_composed_config_with_an_added_key_is_refused_naming_the_closest_key():
    # Hydra's + adds any key to the struct config, and OmegaConf.to_object then sets it on the dataclass unread.
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["+model=camembert_tiny", "+model.hiden_size=64", "run_dir=/tmp/unused"])
    with pytest.raises(ConfigError, match=r"'model.hiden_size'.*did you mean model.hidden_size\?"):
        to_typed(cfg)


def test_overrides_are_checked_but_group_choices_and_hydra_keys_are_not():
    cli.check_override_keys(["+model=camembert_tiny", "task=sample_nli", "hydra/launcher=slurm", "hydra.job.chdir=false",
                             "+task@tasks.nli=sample_nli", "~trainer.stop_at_step", "seed=0,1"])
    with pytest.raises(ConfigError, match="did you mean finetune.lr"):
        cli.check_override_keys(["finetune.lrr=1e-4"])


def test_multirun_flag_anywhere_is_moved_before_the_overrides():
    # Hydra 1.3 rejects overrides after -m (facebookresearch/hydra#3053): the README's sweep line put it there.
    assert cli.hydra_args("train", ["+experiment=quickstart", "-m", "trainer.optimizer.lr=1e-4,3e-4"]) == [
        "-m", "+experiment=quickstart", "trainer.optimizer.lr=1e-4,3e-4"]
    assert cli.hydra_args("fill-mask", ["model=x", "--multirun", "fill_mask.top_k=1,2"]) == [
        "-m", 'fill_mask.model="x"', "fill_mask.top_k=1,2"]
    assert cli.overrides_of(["-m", "--cfg", "job", "a=1", "--info", "defaults", "+b=2"]) == ["a=1", "+b=2"]


def _tokenizer_stage(tmp_path):
    return ["tokenizer", "tokenizer=sample_wordpiece", f"paths.tokenizers={tmp_path}/tok", f"paths.runs={tmp_path}/runs"]


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1, lines
    return lines[0]


def test_disk_full_while_writing_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    real_open = open

    class FullDisk:  # what a write on a full disk raises: ENOSPC, with no file name (write() does not know it)
        def __init__(self, path, mode, **kwargs):
            self.handle = real_open(path, mode, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main(_tokenizer_stage(tmp_path))
    assert info.value.code == 2
    line = _one_error_line(capsys)
    folder = tmp_path / "tok" / "sample-wordpiece"
    assert line.startswith("workbench tokenizer: error: cannot write ") and str(folder) in line
    assert "the disk is full" in line and "intact" in line and "free space" in line and "rerun the same command" in line
    # nothing half-written: no manifest, no temporary file left behind
    assert not (folder / "manifest.json").exists()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_read_only_output_is_one_line_naming_the_folder_and_the_fix(tmp_path, monkeypatch, capsys):
    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

    # the temporary names of atomic writes are the first thing created in the output folder
    monkeypatch.setattr(atomic, "tempfile", types.SimpleNamespace(mkstemp=read_only, mkdtemp=read_only))
    with pytest.raises(SystemExit) as info:
        cli.main(_tokenizer_stage(tmp_path))
    assert info.value.code == 2
    line = _one_error_line(capsys)
    assert str(tmp_path / "tok") in line and "read-only file system" in line and "paths.tokenizers" in line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into a 0555 folder anyway")
def test_real_read_only_folder_is_one_line(repo_root, tmp_path):
    (tmp_path / "tok").mkdir()
    os.chmod(tmp_path / "tok", 0o555)
    try:
        result = _run(repo_root, *_tokenizer_stage(tmp_path)[0:])
    finally:
        os.chmod(tmp_path / "tok", 0o755)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write" in result.stderr and str(tmp_path / "tok") in result.stderr
