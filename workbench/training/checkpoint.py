"""Training checkpoints: atomic, verified, last K kept; the previous one is used when the latest is damaged.

When checkpoints exist and none loads, resuming stops with each one and why (``trainer.restart=true`` starts
over instead, deleting them): a run never silently starts again from step 0 over its own checkpoints.

``checkpoints/step-00000123/`` holds ``model.safetensors`` (weights), ``state.pt`` (optimizer,
scheduler, loss scaler, RNG states, data position; loaded with ``weights_only=True``) and
``meta.json`` written last with the SHA-256 of both files.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from workbench.artifacts.atomic import atomic_dir, write_json
from workbench.artifacts.hashing import sha256_file
from workbench.artifacts.tensor_files import independent_tensors
from workbench.interop.model_source import step_folder_name, step_folders

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
STATE = "state.pt"
META = "meta.json"


class CheckpointError(ValueError):
    """No usable checkpoint where one was expected."""


def rng_state() -> Dict[str, Any]:
    """Every global RNG (the data pipeline uses explicit generators, but dropout uses torch's)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached_gaussian"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: Path, step: int, model_state: Dict[str, torch.Tensor], state: Dict[str, Any], keep_last: int) -> Path:
    """Write ``directory/step-N`` atomically, then delete all but the ``keep_last`` newest."""
    target = directory / step_folder_name(step)
    with atomic_dir(target, overwrite=True) as tmp:
        save_file(independent_tensors(model_state), str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)
        write_json(tmp / META, {"step": step, "sha256": {WEIGHTS: sha256_file(tmp / WEIGHTS), STATE: sha256_file(tmp / STATE)}})
    for old in list_checkpoints(directory)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(directory: Path) -> List[Path]:
    """The checkpoint folders in ``directory`` (a run's ``checkpoints/``), in step order."""
    return step_folders(directory)


@dataclass
class Checkpoint:
    path: Path
    step: int
    model_state: Dict[str, torch.Tensor]
    state: Dict[str, Any]


def load_checkpoint(path: Path) -> Checkpoint:
    """Load and verify one checkpoint; raises CheckpointError when it is incomplete or damaged."""
    meta_path = path / META
    if not meta_path.exists():
        raise CheckpointError(f"{path}: incomplete checkpoint (no {META})")
    try:
        meta = json.loads(meta_path.read_text())
        for name, expected in meta["sha256"].items():
            if sha256_file(path / name) != expected:
                raise CheckpointError(f"{path / name}: checksum mismatch (truncated or corrupted)")
        model_state = load_file(str(path / WEIGHTS))
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as error:  # unreadable file of any kind
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from None
    return Checkpoint(path, int(meta["step"]), model_state, state)


def load_latest(directory: Path, restart: bool = False) -> Optional[Checkpoint]:
    """The newest checkpoint that verifies; damaged newer ones are reported and skipped. None when there is none.

    When there are checkpoints and none verifies: a ``CheckpointError`` listing each and why, unless ``restart``
    (then None, with a warning: the caller starts over, see ``discard_checkpoints``)."""
    failures: List[CheckpointError] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(path)
        except CheckpointError as error:
            failures.append(error)
            log.warning("skipping damaged checkpoint: %s; using the previous one", error)
    if not failures:
        return None
    listing = "\n".join(f"  - {error}" for error in failures)
    if restart:
        log.warning("no checkpoint of %s loads (trainer.restart=true: starting over from step 0):\n%s", directory, listing)
        return None
    raise CheckpointError(
        f"none of the {len(failures)} checkpoints in {directory} loads, so the run cannot resume:\n{listing}\n"
        "Restore them from a copy, or rerun with trainer.restart=true to start over from step 0"
        " (deletes these checkpoints), or choose another run_name"
    )


def discard_checkpoints(directory: Path) -> None:
    """Delete every checkpoint folder (starting a run over: damaged ones of a higher step would otherwise be taken
    for the newest, and keep_last would delete the new ones)."""
    for path in list_checkpoints(directory):
        shutil.rmtree(path)
