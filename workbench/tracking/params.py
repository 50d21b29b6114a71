"""A resolved config as MLflow parameters: one flat ``a.b.c -> text`` entry per leaf value."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Mapping

MAX_KEY = 250  # MLflow's limits (mlflow.utils.validation: MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH)
MAX_VALUE = 6000


def flatten_params(config: Any, prefix: str = "") -> Dict[str, str]:
    """Dataclasses and mappings are walked (``trainer.optimizer.lr``); lists and scalars are leaves, written as JSON
    (``[0.9, 0.98]``, ``null``, ``true``; strings as themselves). A value longer than MLflow accepts is cut, ending
    in ``...``; a key longer than it accepts keeps its last characters."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if isinstance(config, Mapping):
        flat: Dict[str, str] = {}
        for key, value in config.items():
            flat.update(flatten_params(value, f"{prefix}{key}."))
        if not config and prefix:
            flat[_key(prefix[:-1])] = "{}"
        return flat
    text = config if isinstance(config, str) else json.dumps(config, ensure_ascii=False, default=str)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 3] + "..."
    return {_key(prefix[:-1]): text}


def _key(key: str) -> str:
    return key if len(key) <= MAX_KEY else "..." + key[-(MAX_KEY - 3):]
