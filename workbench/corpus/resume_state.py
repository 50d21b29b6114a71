"""The resume state of ``prepare`` as data: one ``.npz`` of plain arrays, read with ``allow_pickle=False``.

A shard folder may come from someone else, so reading its resume state must never run code (a pickle
can). The state is a tree of JSON values and 1-D numpy arrays. It is stored as:

- ``state.json``: the tree as UTF-8 JSON (uint8 array), each array replaced by ``{"$array": [dtype, i]}``;
- ``<dtype>.data`` and ``<dtype>.offsets`` for each array dtype used: the arrays of that dtype end to end
  and their ``[n + 1]`` start offsets (a few entries whatever the number of arrays, e.g. the thousands of
  sentences of a sentence-pair pool).

``read_state`` checks the container (names, dtypes, offsets) and rebuilds the tree; it raises
``StateFileError`` naming the file and what is wrong. What the tree must hold is checked by its user.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from workbench.artifacts.atomic import atomic_file

TREE = "state.json"
ARRAY_KEY = "$array"
DTYPES = ("int64", "uint64", "int32", "uint32", "uint16", "uint8")  # the arrays a state may hold


class StateFileError(ValueError):
    """A resume state file that cannot be read as one; the message names the file and the problem."""


def _encode(value: Any, leaves: Dict[str, List[np.ndarray]]) -> Any:
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.name not in DTYPES:
            raise TypeError(f"resume state arrays are 1-D {'/'.join(DTYPES)}, not {value.dtype} of shape {value.shape}")
        group = leaves.setdefault(value.dtype.name, [])
        group.append(value)
        return {ARRAY_KEY: [value.dtype.name, len(group) - 1]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"resume state dict keys are strings, not {sorted(map(repr, value))[:3]}")
        if ARRAY_KEY in value:
            raise TypeError(f"{ARRAY_KEY!r} is reserved in resume states")
        return {key: _encode(item, leaves) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item, leaves) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"resume states hold JSON values and numpy arrays, not {type(value).__name__}")


def write_state(path: Path, state: Dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``state`` (JSON values and 1-D arrays of the ``DTYPES``)."""
    leaves: Dict[str, List[np.ndarray]] = {}
    tree = json.dumps(_encode(state, leaves), ensure_ascii=False, separators=(",", ":"))
    arrays = {TREE: np.frombuffer(tree.encode("utf-8"), dtype=np.uint8)}
    for dtype, group in leaves.items():
        arrays[f"{dtype}.data"] = np.concatenate(group) if group else np.zeros(0, dtype=dtype)
        arrays[f"{dtype}.offsets"] = np.cumsum([0] + [len(a) for a in group], dtype=np.int64)
    with atomic_file(path, "wb") as handle:
        np.savez(handle, **arrays)


def _decode(value: Any, groups: Dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> Any:
    if isinstance(value, dict):
        if ARRAY_KEY in value:
            reference = value[ARRAY_KEY]
            ok = len(value) == 1 and isinstance(reference, list) and len(reference) == 2
            dtype, index = reference if ok else (None, None)
            if not ok or dtype not in groups or not isinstance(index, int) or not 0 <= index < len(groups[dtype][1]) - 1:
                raise StateFileError(f"{where}: array reference {value!r} points to no stored array")
            data, offsets = groups[dtype]
            return data[offsets[index] : offsets[index + 1]].copy()
        return {key: _decode(item, groups, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, groups, f"{where}[{i}]") for i, item in enumerate(value)]
    return value


def read_state(path: Path) -> Dict[str, Any]:
    """The state ``write_state`` wrote to ``path``; never unpickles. Raises ``StateFileError``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            allowed = {TREE} | {f"{dtype}.{part}" for dtype in DTYPES for part in ("data", "offsets")}
            if TREE not in names or names - allowed:
                raise StateFileError(f"{path}: not a workbench resume state (entries {sorted(names)})")
            stored = {name: archive[name] for name in names}
    except StateFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # not an npz, or object arrays (a pickle)
        raise StateFileError(f"{path}: not a workbench resume state ({type(error).__name__}: {error})") from None
    groups = {}
    for dtype in DTYPES:
        if f"{dtype}.data" not in stored and f"{dtype}.offsets" not in stored:
            continue
        data, offsets = stored.get(f"{dtype}.data"), stored.get(f"{dtype}.offsets")
        if (
            data is None or offsets is None or data.dtype.name != dtype or data.ndim != 1
            or offsets.dtype != np.int64 or offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0
            or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0)
        ):
            raise StateFileError(f"{path}: the {dtype} arrays are inconsistent (data and offsets do not match)")
        groups[dtype] = (data, offsets)
    tree = stored[TREE]
    if tree.dtype != np.uint8 or tree.ndim != 1:
        raise StateFileError(f"{path}: {TREE} is not UTF-8 bytes")
    try:
        state = json.loads(tree.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StateFileError(f"{path}: {TREE} is not valid JSON ({error})") from None
    if not isinstance(state, dict):
        raise StateFileError(f"{path}: {TREE} is not a JSON object")
    return _decode(state, groups, "state")
