"""Everything workbench writes gets the process umask's permissions, not mkstemp's 0600 / mkdtemp's 0700."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from workbench.artifacts.atomic import atomic_dir, atomic_file, current_umask, write_json
from workbench.corpus.config import SourceConfig
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.train import train_tokenizer
from workbench.training.checkpoint import save_checkpoint

MODES = {0o022: (0o644, 0o755), 0o002: (0o664, 0o775)}  # umask -> (file mode, folder mode)


@pytest.fixture(params=sorted(MODES), ids=lambda mask: f"umask{mask:03o}")
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    """Permission bits of ``root`` and everything below it, by path relative to ``root``."""
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return out


def test_current_umask_reads_the_process_umask(umask):
    assert current_umask() == umask


def test_atomic_files_and_folders_follow_the_umask(tmp_path, umask):
    file_mode, dir_mode = MODES[umask]
    with atomic_file(tmp_path / "a.txt") as handle:
        handle.write("x")
    write_json(tmp_path / "b.json", {"k": 1})
    with atomic_dir(tmp_path / "folder") as tmp:
        (tmp / "inner.bin").write_bytes(b"1")
        write_json(tmp / "meta.json", {})
    with atomic_dir(tmp_path / "folder", overwrite=True) as tmp:  # replacing an existing folder too
        (tmp / "inner.bin").write_bytes(b"2")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == file_mode
    assert _modes(tmp_path / "folder") == {".": dir_mode, "inner.bin": file_mode}


def test_a_tokenizer_folder_and_a_checkpoint_are_readable_by_the_group(tmp_path, repo_root, umask):
    file_mode, dir_mode = MODES[umask]
    sample = repo_root / "corpora" / "sample_fr" / "text"
    if not sample.is_dir():
        pytest.skip(f"the shipped French sample corpus is missing ({sample})")
    config = TokenizerConfig(name="perm", algorithm="wordpiece", vocab_size=800, sample_lines=2000)
    out = tmp_path / "tokenizers" / "perm"
    train_tokenizer(config, [SourceConfig(path=str(sample / "*.txt"))], out, corpus_description={})
    save_checkpoint(tmp_path / "checkpoints", 1, {"w": torch.zeros(2)}, {"step": 1}, keep_last=2)
    for root in (out, tmp_path / "checkpoints"):
        modes = _modes(root)
        expected = {name: dir_mode if (root / name).is_dir() else file_mode for name in modes}
        assert modes == expected, root
