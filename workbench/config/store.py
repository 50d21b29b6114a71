"""Registration of the typed schemas in Hydra's ConfigStore (called explicitly by the CLI).

The root schema ``workbench`` is the base of every stage's primary config
(``conf/<stage>.yaml`` lists it first in its defaults), so every YAML value is
checked against the dataclasses: an unknown or misspelled key fails at start-up
naming the key.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from workbench.config.resolvers import register_resolvers
from workbench.config.root import WorkbenchConfig

ROOT_SCHEMA = "workbench_schema"


def register_configs() -> None:
    ConfigStore.instance().store(name=ROOT_SCHEMA, node=WorkbenchConfig)
    register_resolvers()
