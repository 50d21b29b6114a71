"""Keys the typed schema has: an unknown key (``+trainer.max_step=10``, a YAML typo) fails naming the closest one.

Hydra accepts any key given with ``+`` (it opens the struct config to add it) and OmegaConf then sets it as a
plain attribute of the dataclass, where nothing reads it. Both the command line (before Hydra composes) and the
composed config (``workbench.config.typed.to_typed``) are checked here against the dataclass fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, List, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from workbench.config.choices import ConfigError


def unwrap_optional(hint: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    if typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _fields(schema: type) -> dict:
    return typing.get_type_hints(schema)


def closest_key(name: str, valid: Sequence[str]) -> Optional[str]:
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key_error(path: str, name: str, valid: Sequence[str]) -> ConfigError:
    """The one error for ``path`` (``trainer.max_step``), whose last part ``name`` is not among ``valid``."""
    parent = path[: -len(name) - 1] if path != name else ""
    where = f"{parent}." if parent else ""
    close = closest_key(name, valid)
    hint = f"did you mean {where}{close}?" if close else f"valid keys: {', '.join(sorted(valid))}"
    return ConfigError(f"unknown config key {path!r} (the schema has no {name!r}{' under ' + parent if parent else ''}); {hint}")


def check_key_path(schema: type, path: str) -> None:
    """Raise ``unknown_key_error`` when the dotted ``path`` (``trainer.optimizer.lr``, ``corpus.sources.0.path``,
    ``tasks.nli.name``) does not exist in the dataclass ``schema``. Parts under a free-form value (a ``Dict``'s
    keys, ``Any``) are not checked."""
    hint: Any = schema
    done: List[str] = []
    for part in path.split("."):
        hint = unwrap_optional(hint)
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint):
            fields = _fields(hint)
            if part not in fields:
                raise unknown_key_error(".".join([*done, part]), part, list(fields))
            hint = fields[part]
        elif origin in (dict, typing.Dict):
            hint = typing.get_args(hint)[1] if typing.get_args(hint) else Any
        elif origin in (list, typing.List, tuple):
            hint = typing.get_args(hint)[0] if typing.get_args(hint) else Any
        else:
            return  # a leaf or free-form value: nothing below it to check
        done.append(part)


def check_composed(node: Any, path: str = "") -> None:
    """Every key of the composed config ``node`` exists in the dataclass of its node (recursively)."""
    if isinstance(node, DictConfig):
        schema = OmegaConf.get_type(node)
        valid = _fields(schema) if schema is not None and dataclasses.is_dataclass(schema) else None
        for key in node.keys():
            key = str(key)
            here = f"{path}.{key}" if path else key
            if valid is not None and key not in valid:
                raise unknown_key_error(here, key, list(valid))
            if not OmegaConf.is_missing(node, key) and not OmegaConf.is_interpolation(node, key):
                check_composed(node[key], here)
    elif isinstance(node, ListConfig):
        for index in range(len(node)):
            if not OmegaConf.is_missing(node, index) and not OmegaConf.is_interpolation(node, index):
                check_composed(node[index], f"{path}.{index}")
