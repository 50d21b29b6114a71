"""Typed manifests: the ``manifest.json`` every artifact folder writes last, read back as a frozen ``Manifest``.

Every manifest is a provenance block (``workbench.artifacts.provenance.provenance``: ``config``, ``config_hash``,
``code``, ``libraries``, ``platform``, ``cpu``, ``argv``, ``created``) plus the artifact's own fields (a tokenizer's
``artifact``/``vocab_size``/``files``, a shard set's ``splits``, a model folder's ``weights_sha256``/``steps``/
``validation``, an eval job's ``job_hash``...). ``read_manifest`` checks the type of each provenance field present
and keeps every field as read (``fields``); a field a consumer needs is asked for with ``Manifest.require``
(missing or of another type: the error names it), so ``write_manifest(read_manifest(folder))`` writes the same bytes: folders
written before manifests were typed load unchanged. A bad manifest is one ``ManifestError`` naming the file, the
field and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Type

from workbench.artifacts.atomic import write_json

MANIFEST_FILE = "manifest.json"
# the provenance fields and their JSON types: checked when present (a model folder written by hand or by a test may
# record fewer); a consumer that needs one asks for it with Manifest.require, which names the file when it is absent
PROVENANCE = (("config", object), ("config_hash", str), ("code", dict), ("libraries", dict), ("created", str),
              ("platform", str), ("cpu", dict), ("argv", list), ("artifact", str))
_TYPE_NAMES = {str: "a string", dict: "an object", list: "a list", int: "an integer", float: "a number", object: "a value"}


class ManifestError(ValueError):
    """A manifest.json that cannot be read as one: the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Manifest(Mapping[str, Any]):
    """One artifact's manifest: its provenance, typed, and every field as read (``fields``). It is also the read-only
    mapping of those fields (``manifest["steps"]``), so code that read the JSON object reads it unchanged."""

    path: Path  # the manifest file
    config: Any = None  # the resolved config the artifact was built from (plain JSON)
    config_hash: Optional[str] = None
    code: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # workbench version, git commit, dirty
    libraries: Mapping[str, Optional[str]] = field(default_factory=lambda: MappingProxyType({}))
    created: Optional[str] = None  # ISO 8601, UTC
    platform: Optional[str] = None
    cpu: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    argv: Tuple[str, ...] = ()
    artifact: Optional[str] = None  # what wrote it, where recorded ("tokenizer", "init_from_tokenizer", ...)
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # the whole JSON object, in file order

    @property
    def folder(self) -> Path:
        return self.path.parent

    def has(self, name: str) -> bool:
        return name in self.fields

    def require(self, name: str, kind: Type = object) -> Any:
        """The artifact's own field ``name`` (of JSON type ``kind``); missing or of another type: ``ManifestError``."""
        if name not in self.fields:
            raise ManifestError(f"{self.path}: field {name!r} is missing; {_fix(self.folder)}")
        return _checked(self.path, name, self.fields[name], kind)

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def as_json(self) -> Dict[str, Any]:
        """The manifest as written (every field, in file order)."""
        return dict(self.fields)


def _fix(folder: Path) -> str:
    return f"the folder was not written by this workbench or was edited: delete {folder} to build it again"


def _checked(path: Path, name: str, value: Any, kind: Type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is not object and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ManifestError(f"{path}: field {name!r} should be {_TYPE_NAMES[kind]}, not {json.dumps(value)[:80]}; {_fix(path.parent)}")
    return value


def manifest_from_json(path: Path, data: Any) -> Manifest:
    """A ``Manifest`` of the JSON object ``data`` read from ``path``, its provenance fields checked."""
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object, not {type(data).__name__}; {_fix(path.parent)}")
    for name, kind in PROVENANCE:
        if name in data:
            _checked(path, name, data[name], kind)
    return Manifest(
        path=path, config=data.get("config"), config_hash=data.get("config_hash"),
        code=MappingProxyType(data.get("code") or {}), libraries=MappingProxyType(data.get("libraries") or {}),
        created=data.get("created"), platform=data.get("platform"), cpu=MappingProxyType(data.get("cpu") or {}),
        argv=tuple(data.get("argv") or ()), artifact=data.get("artifact"), fields=MappingProxyType(dict(data)),
    )


def read_manifest(folder: str | Path) -> Optional[Manifest]:
    """The manifest of ``folder`` (``folder/manifest.json``), or None when there is none (an unfinished folder)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not valid JSON ({error}); {_fix(path.parent)}") from None
    return manifest_from_json(path, data)


def write_manifest(folder: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` (a provenance block plus the artifact's fields) as ``folder/manifest.json``, atomically; it
    must read back as a ``Manifest`` (checked before anything is written)."""
    path = Path(folder) / MANIFEST_FILE
    manifest_from_json(path, json.loads(json.dumps(dict(record), default=str)))
    write_json(path, dict(record))
    return path
