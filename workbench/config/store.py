"""Registration of the typed schemas in Hydra's ConfigStore (called explicitly by the CLI).

The root schema ``workbench`` is the base of every stage's primary config
(``conf/<stage>.yaml`` lists it first in its defaults), so every YAML value is
checked against the dataclasses: an unknown or misspelled key fails at start-up
naming the key.
"""

from __future__ import annotations

import sys

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from workbench.config.choices import ConfigError, check_path_name
from workbench.config.root import WorkbenchConfig

ROOT_SCHEMA = "workbench_schema"
PATH_NAME_RESOLVER = "path_name"  # ${path_name:run_name,${run_name}}: the value, refused unless one path component


def _output_folder_name(key: str, value: str) -> str:
    """``check_path_name`` for the folder Hydra makes before the stage runs: a refused name ends the command with
    the CLI's one-line error (exit status 2), which Hydra, resolving its own config, cannot print."""
    try:
        return check_path_name(key, value)
    except ConfigError as error:
        print(f"{sys.argv[0]}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def register_configs() -> None:
    """The root schema, and the ``path_name`` resolver: Hydra makes its output folder (``hydra.run.dir`` of
    ``train``: ``runs/<run_name>``) before the stage runs, so the name is checked while that path resolves."""
    ConfigStore.instance().store(name=ROOT_SCHEMA, node=WorkbenchConfig)
    OmegaConf.register_new_resolver(PATH_NAME_RESOLVER, _output_folder_name, replace=True)
