"""run_name, tokenizer.name and corpus.name name one folder: a name that would leave its root is refused."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from workbench.artifacts.layout import run_dir, shards_dir, tokenizer_dir
from workbench.config.choices import ConfigError, check_path_name
from workbench.config.root import WorkbenchConfig
from workbench.corpus.config import CorpusConfig
from workbench.tokenization.config import TokenizerConfig

BAD = {
    "../x": "contains a path separator",
    "a/b": "contains a path separator",
    "/abs": "contains a path separator",
    "a\\b": "contains a path separator",
    "..": "is not a folder name",
    ".": "is not a folder name",
    "": "is empty",
    "a\0b": "contains a NUL character",
}


@pytest.mark.parametrize("value", sorted(BAD))
def test_a_name_must_be_one_path_component(value):
    with pytest.raises(ConfigError) as error:
        check_path_name("tokenizer.name", value)
    message = str(error.value)
    assert message.startswith(f"tokenizer.name={value!r} {BAD[value]}") and "single path component" in message


@pytest.mark.parametrize("value", ["default", "camembert-base", "run.v2", "..x", "a b", "été"])
def test_plain_names_pass(value):
    assert check_path_name("run_name", value) == value


def test_the_schemas_refuse_a_bad_name_at_start_up():
    with pytest.raises(ConfigError, match=r"^tokenizer.name='\.\./x'"):
        TokenizerConfig(name="../x")
    with pytest.raises(ConfigError, match=r"^corpus.name='a/b'"):
        CorpusConfig(name="a/b")
    with pytest.raises(ConfigError, match=r"^run_name='\.\.'"):
        WorkbenchConfig(run_name="..")


def test_the_layout_refuses_a_name_set_after_start_up(tmp_path):
    """Code that edits a typed config in place bypasses __post_init__: the paths are checked where they are made."""
    cfg = WorkbenchConfig(tokenizer=TokenizerConfig(name="tok"), corpus=CorpusConfig(name="corpus"))
    cfg.paths = dataclasses.replace(cfg.paths, runs=str(tmp_path / "runs"), tokenizers=str(tmp_path / "tok"))
    assert run_dir(cfg) == tmp_path / "runs" / "default"
    cfg.run_name = "../escape"
    with pytest.raises(ConfigError, match=r"^run_name='\.\./escape'"):
        run_dir(cfg)
    cfg.tokenizer.name = "../../etc"
    with pytest.raises(ConfigError, match=r"^tokenizer.name='\.\./\.\./etc'"):
        tokenizer_dir(cfg)
    with pytest.raises(ConfigError, match=r"^corpus.name=|^tokenizer.name="):
        shards_dir(cfg)
    cfg.tokenizer.name = "tok"
    cfg.corpus.name = ".."
    with pytest.raises(ConfigError, match=r"^corpus.name='\.\.'"):
        shards_dir(cfg)


def _cli(repo_root, cwd, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root)}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize(
    "stage, override",
    [("train", "run_name=../x"), ("train", "run_name=.."), ("tokenizer", "tokenizer.name=../x"), ("prepare", "corpus.name=../x")],
)
def test_the_command_line_writes_nothing_outside_its_roots(repo_root, tmp_path, stage, override):
    """Hydra makes train's output folder runs/<run_name> before the stage runs: the name is refused before that."""
    work = tmp_path / "work"
    work.mkdir()
    args = [stage, "+model=bert_tiny"] if stage == "train" else [stage]
    roots = [f"paths.{key}={work / key}" for key in ("runs", "tokenizers", "shards", "evals")]
    result = _cli(repo_root, work, *args, override, *roots)
    key, value = override.split("=")
    assert result.returncode == 2, result.stderr
    assert f"workbench {stage}: error: {key}={value!r}" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]  # nothing beside the roots' parent
    assert not (work / "x").exists()
    written = [p for p in work.rglob("*") if "logs" not in p.relative_to(work).parts]  # Hydra's own logs under runs/logs
    assert [p for p in written if p.is_file()] == []
