"""Validation helper shared by the typed config schemas.

OmegaConf does not support ``Literal`` types, so enumerated string fields are
plain ``str`` checked in ``__post_init__`` (which runs when the entry point
converts the Hydra config into typed objects).
"""

from __future__ import annotations

import re
from typing import Iterable


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the fix."""


def check_choice(key: str, value: str, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose one of: {', '.join(choices)}")


def check_positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}={value!r} must be {bound}")


def check_fraction(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}={value!r} must be between 0 and 1")


def check_path_name(key: str, value: str) -> str:
    """``value`` names one folder under a configured root (``paths.runs``, ``paths.tokenizers``, ...): one path
    component, so that no name can write outside its root. Returns ``value``."""
    problem = None
    if not isinstance(value, str) or value == "":
        problem = "is empty"
    elif "/" in value or "\\" in value:
        problem = "contains a path separator"
    elif value in (".", ".."):
        problem = "is not a folder name"
    elif "\0" in value:
        problem = "contains a NUL character"
    if problem is not None:
        plain = re.sub(r"[/\\\0]+", "-", str(value)).strip(".-") or "my-name"
        raise ConfigError(
            f"{key}={value!r} {problem}: it names one folder, so it must be a single path component"
            " (no '/', no '\\', not '.' or '..', not empty, no NUL); choose a plain name such as"
            f" {key}={plain}, and set the paths.* roots to choose where artifacts go"
        )
    return value
