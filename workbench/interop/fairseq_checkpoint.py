"""Read a fairseq checkpoint (``model.pt``) without executing pickled code.

fairseq checkpoints are ``torch.save`` pickles of a dict: ``model`` (the state dict), ``args`` (an
``argparse.Namespace`` in checkpoints before fairseq 0.10, such as the released CamemBERT) and/or ``cfg``
(a plain dict in fairseq >= 0.12 -- whose ``model`` entry is still an ``argparse.Namespace`` for RoBERTa --,
an omegaconf ``DictConfig`` in 0.10/0.11), plus optimizer and meter state. ``torch.load(weights_only=True)``
refuses the Namespace, and ``weights_only=False`` would run whatever the file asks for.

This module unpickles through an allowlist instead (the "restricting globals" pattern of the ``pickle``
documentation, inside ``torch.load`` so tensors are rebuilt by torch's own storage loader):

- real objects only for inert data types: tensors (``torch._utils._rebuild_tensor_v2`` and parameters),
  ``collections.OrderedDict`` / ``defaultdict``, ``argparse.Namespace``, builtin containers and scalars,
  numpy scalars and arrays, ``_codecs.encode`` (protocol 2's way of storing bytes);
- every class of ``omegaconf``, ``fairseq`` and ``typing`` becomes an inert :class:`PickledRecord` that only
  stores the arguments and state the pickle gives it (no omegaconf or fairseq code runs); records are then
  turned into plain dicts / lists / values by :func:`plain`;
- any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) stops loading with an
  :class:`InteropError` naming it. Nothing from the file is called except the allowlisted constructors.
"""

from __future__ import annotations

import argparse
import builtins
import codecs
import collections
import pickle
import re
import types
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple

import torch

from workbench.interop.hf_config import InteropError

_ALLOWED: Dict[Tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("argparse", "Namespace"): argparse.Namespace,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores bytes (str + "latin1")
}
for _name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "bool", "complex"):
    _ALLOWED[("builtins", _name)] = getattr(builtins, _name)
_ALLOWED[("builtins", "NoneType")] = type(None)
for _dtype_name in ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"):
    _ALLOWED[("torch", _dtype_name)] = getattr(torch, _dtype_name)


def _numpy_allowed() -> Dict[Tuple[str, str], Any]:
    import numpy as np

    reconstruct = np.zeros(0).__reduce__()[0]  # numpy's array rebuilder (multiarray._reconstruct)
    scalar = np.float64(0).__reduce__()[0]  # numpy's scalar rebuilder (multiarray.scalar)
    allowed: Dict[Tuple[str, str], Any] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "scalar")] = scalar
        allowed[(module, "_reconstruct")] = reconstruct
    return allowed


_ALLOWED.update(_numpy_allowed())
# Python 2 names that protocol-2 pickles (torch.save's default protocol) may use
_COMPAT = {("__builtin__", "long"): ("builtins", "int"), ("__builtin__", "unicode"): ("builtins", "str")}
_RECORD_MODULES = re.compile(r"^(omegaconf|fairseq|typing|enum)(\.|$)")


class PickledRecord:
    """Stand-in for a class the checkpoint names but that is never imported: it keeps what the pickle gives."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<record of {self.qualified_name}>"


_RECORD_CLASSES: Dict[str, type] = {}


def _record_class(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _RECORD_CLASSES:
        _RECORD_CLASSES[key] = type(f"Record_{name}", (PickledRecord,), {"qualified_name": key})
    return _RECORD_CLASSES[key]


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = _COMPAT.get((module, name), (module, name))
        if module == "__builtin__":
            module = "builtins"
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if _RECORD_MODULES.match(module):
            return _record_class(module, name)
        raise pickle.UnpicklingError(f"refused to load global {module}.{name}")


# what torch.load calls: ``pickle_module.Unpickler`` (subclassed by torch to map storages) and ``load``
restricted_pickle = types.SimpleNamespace(
    Unpickler=_RestrictedUnpickler,
    load=lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load(),
    __name__="workbench_restricted_pickle",
)


def load_fairseq_checkpoint(path: str | Path) -> Dict[str, Any]:
    """The checkpoint as plain containers and tensors (records turned into dicts), never running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise InteropError(f"fairseq checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise InteropError(
            f"{path}: not a torch zip checkpoint (saved by torch < 1.6 in the legacy format); re-save it with a"
            " recent torch (torch.save(torch.load(path), path)) in an environment you trust"
        )
    try:
        raw = torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=restricted_pickle)
    except pickle.UnpicklingError as error:
        raise InteropError(
            f"{path}: the checkpoint contains code or objects that are not plain data ({error}); refusing to load it"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise InteropError(f"{path}: cannot read the checkpoint ({type(error).__name__}: {error})") from None
    state = plain(raw)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise InteropError(f"{path}: not a fairseq checkpoint (no 'model' state dict at the top level)")
    if isinstance(state.get("cfg"), dict):
        _resolve_interpolations(state["cfg"], state["cfg"])
    return state


def plain(value: Any) -> Any:
    """Containers, Namespaces and records as plain dicts/lists; omegaconf nodes as their values."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if isinstance(value, argparse.Namespace):
        return {key: plain(item) for key, item in vars(value).items()}
    if isinstance(value, PickledRecord):
        return _plain_record(value)
    return value


def _plain_record(record: PickledRecord) -> Any:
    name = record.qualified_name
    state = record.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        state = {**(state[0] or {}), **state[1]}  # (dict state, slots state)
    if name.endswith(("DictConfig", "ListConfig")) and isinstance(state, dict):
        return plain(state.get("_content"))
    if name.startswith("omegaconf.nodes.") and isinstance(state, dict):
        return plain(state.get("_val"))
    if record.args and state is None and len(record.args) == 1:
        return plain(record.args[0])  # enum members and other single-value reductions
    if isinstance(state, dict):
        return {"__class__": name, **{k: plain(v) for k, v in state.items() if not k.startswith("_")}}
    return {"__class__": name, "args": [plain(a) for a in record.args]}


_INTERPOLATION = re.compile(r"^\$\{([A-Za-z0-9_.]+)\}$")


def _resolve_interpolations(node: Any, root: Dict) -> None:
    """Replace ``${a.b}`` references of omegaconf configs by the value at ``a.b`` in ``root``, in place."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, item in list(items):
        if isinstance(item, (dict, list)):
            _resolve_interpolations(item, root)
        elif isinstance(item, str):
            match = _INTERPOLATION.match(item)
            if match:
                target: Any = root
                for part in match.group(1).split("."):
                    target = target.get(part) if isinstance(target, dict) else None
                if target is not None and not isinstance(target, (dict, list)):
                    node[key] = target
