"""One reuse policy for every stage: a finished artifact folder is reused when its manifest records the config hash
the stage expects, and each stage says in one log line what it reuses or why it does not.

``reuse_decision(folder, expected_hash)`` is ``Reuse`` (the manifest records ``expected_hash``) or ``Rebuild(reason)``:
nothing finished there (no ``manifest.json``: absent or unfinished, built or resumed), or a finished artifact of
another config (``Rebuild.conflicts``; ``differences`` names each key that differs). What a stage does with a
conflict is the stage's: ``tokenizer`` and ``train`` refuse (a user's finished vocabulary or run is never
overwritten: choose another name or delete the folder), an eval job folder (a cache keyed by the job's hash) is
fine-tuned again in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from workbench.artifacts.manifest import Manifest, read_manifest
from workbench.artifacts.provenance import to_plain


@dataclass(frozen=True)
class Reuse:
    """The folder holds a finished artifact of exactly this config."""

    folder: Path
    manifest: Manifest
    config_hash: str

    def describe(self) -> str:
        return f"{self.folder} is finished with this config (config hash {self.config_hash}): reusing it"


@dataclass(frozen=True)
class Rebuild:
    """The folder is (re)built: ``reason`` says why."""

    folder: Path
    reason: str
    manifest: Optional[Manifest] = None  # a finished artifact of another config; None: nothing finished there
    differences: Tuple[str, ...] = ()  # ``key=<recorded> in the folder, <value> in this config``

    @property
    def conflicts(self) -> bool:
        """A finished artifact of another config is in the way."""
        return self.manifest is not None

    def describe(self) -> str:
        return self.reason


Decision = Union[Reuse, Rebuild]


def reuse_decision(
    folder: str | Path,
    expected_hash: str,
    recorded_hash: Optional[Callable[[Manifest], str]] = None,
    differences: Optional[Callable[[Manifest], Sequence[str]]] = None,
) -> Decision:
    """``Reuse`` when ``folder``'s manifest records ``expected_hash``, else ``Rebuild`` with the reason.

    ``recorded_hash``: the hash the manifest records for this comparison (default: its ``config_hash``; an eval
    job's is its ``job_hash``); ``differences``: what differs, for the reason (``config_differences``)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        state = "unfinished (no manifest.json)" if folder.exists() else "not built yet"
        return Rebuild(folder, f"{folder} is {state}")
    recorded = recorded_hash(manifest) if recorded_hash is not None else manifest.require("config_hash", str)
    if recorded == expected_hash:
        return Reuse(folder, manifest, recorded)
    found = tuple(differences(manifest)) if differences is not None else ()
    reason = f"{manifest.path} records config hash {recorded}, this config's is {expected_hash}"
    return Rebuild(folder, reason + (f": {'; '.join(found)}" if found else ""), manifest, found)


def _leaves(value: Any, prefix: str) -> Dict[str, Any]:
    if isinstance(value, dict) and value:
        out: Dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


_ABSENT = object()


def as_json(config: Any) -> Any:
    """A config (dataclass, OmegaConf node, plain data) as the JSON a manifest records."""
    return json.loads(json.dumps(to_plain(config), default=str))


def config_differences(recorded: Any, config: Any, prefix: str) -> List[str]:
    """``key=<recorded> in the folder, <value> in this config`` for each key where ``config`` differs from the
    ``recorded`` config (a manifest's ``config``), both as the JSON a manifest holds; keys are ``prefix.a.b``
    (``prefix`` alone when empty)."""
    recorded_leaves = _leaves(recorded, prefix)
    current = _leaves(as_json(config), prefix)
    found = []
    for key in sorted(set(recorded_leaves) | set(current)):
        there, here = recorded_leaves.get(key, _ABSENT), current.get(key, _ABSENT)
        if there != here:
            show = lambda value: "absent" if value is _ABSENT else json.dumps(value, ensure_ascii=False)  # noqa: E731
            found.append(f"{key.lstrip('.')}={show(there)} in the folder, {show(here)} in this config")
    return found
