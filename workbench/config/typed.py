"""From Hydra's DictConfig to the typed ``WorkbenchConfig``, with clear errors for missing groups."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from workbench.config.choices import ConfigError
from workbench.config.keys import check_composed
from workbench.config.root import WorkbenchConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def group_choices(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """Names of the YAML files of a config group, e.g. the models ``+model=`` accepts."""
    folder = conf_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _how_to_choose(group: str) -> str:
    choices = group_choices(group)
    listed = ", ".join(choices) if choices else "(none found)"
    prefix = "+" if group == "model" else ""
    return f"choose one with {prefix}{group}=<name>; available: {listed}"


def require(cfg: WorkbenchConfig, groups: Iterable[str], stage: str) -> None:
    """Fail with one clear message when a stage needs a config group that was not chosen."""
    for group in groups:
        if getattr(cfg, group) is None:
            raise ConfigError(f"the {stage} stage needs a {group} config: {_how_to_choose(group)}")


def to_typed(cfg: DictConfig) -> WorkbenchConfig:
    """Resolve interpolations and build the dataclasses (running their validation). A key the schema does not
    have (added with ``+``, which Hydra accepts) fails naming the closest valid key."""
    check_composed(cfg)
    try:
        typed = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as error:
        raise ConfigError(f"invalid configuration: {error}") from None
    if not isinstance(typed, WorkbenchConfig):
        raise ConfigError(
            "the configuration is not based on the workbench schema; its defaults list must start with workbench_schema"
        )
    return typed
