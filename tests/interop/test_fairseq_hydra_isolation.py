"""fairseq in the same pytest process as workbench's Hydra configs.

Importing fairseq registers its configs in Hydra's global ``ConfigStore`` -- groups and root configs named
``model``, ``task``, ``tokenizer``, ``criterion``... -- after which workbench's own stage configs (``tokenizer``
above all) no longer compose in that process. Every test that runs fairseq does it inside
:func:`fairseq_configs`: fairseq registers into, and runs with, its own copy of the store, and workbench's
store is put back untouched afterwards.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Iterator, Optional

import pytest

_FAIRSEQ_REPO: Optional[dict] = None  # the ConfigStore contents fairseq runs with (workbench's + fairseq's)
SKIP_REASON = "fairseq is not installed (pip install fairseq-fixed the safe way: docs/fairseq.md)"


@contextlib.contextmanager
def fairseq_configs() -> Iterator[None]:
    """Run fairseq (first import included) with its own Hydra ConfigStore; skips the test without fairseq."""
    global _FAIRSEQ_REPO
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.version import VersionBase

    Plugins.instance()  # Hydra registers its plugins' configs (hydra/sweeper/basic, ...) once: in workbench's store
    store = ConfigStore.instance()
    workbench_repo = store.repo
    # workbench composes with version_base="1.3", a process-wide setting; fairseq 0.12 calls
    # hydra.experimental.initialize, which refuses to run under a version base >= 1.2: give it Hydra's default.
    workbench_base = VersionBase.instance().getbase()
    try:
        VersionBase.instance().version_base = _UNSPECIFIED
        if _FAIRSEQ_REPO is None:
            store.repo = copy.deepcopy(workbench_repo)
            pytest.importorskip("fairseq", reason=SKIP_REASON)
            # every fairseq module the tests use, so that all their registrations land in fairseq's copy
            import fairseq.models.roberta  # noqa: F401
            import fairseq.tasks.masked_lm  # noqa: F401
            import fairseq_cli.preprocess  # noqa: F401
            import fairseq_cli.train  # noqa: F401

            _FAIRSEQ_REPO = store.repo
        store.repo = _FAIRSEQ_REPO
        yield
    finally:
        store.repo = workbench_repo
        VersionBase.instance().version_base = workbench_base


from hydra.version import _UNSPECIFIED_ as _UNSPECIFIED  # noqa: E402


@pytest.fixture
def fairseq():
    """The fairseq package, for the duration of one test, with fairseq's own ConfigStore."""
    with fairseq_configs():
        import fairseq as module

        yield module


@pytest.mark.fairseq
def test_fairseq_runs_with_its_configs_and_workbench_keeps_its_own():
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR

    store = ConfigStore.instance()
    register_configs()
    before = store.repo
    with fairseq_configs():
        from fairseq import options
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf

        assert "tokenizer.yaml" in store.repo and "tokenizer.yaml" not in before
        args = options.parse_args_and_arch(options.get_training_parser(), ["data", "--task", "masked_lm",
                                                                            "--arch", "roberta_base"])
        assert convert_namespace_to_omegaconf(args).model.encoder_layers == 12  # fairseq's Hydra composition
    assert store.repo is before and "tokenizer.yaml" not in before
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="tokenizer", overrides=[])  # fails with fairseq's entries in the store
        assert "tokenizer" in cfg and "corpus" in cfg
    finally:
        GlobalHydra.instance().clear()
