"""One way to find a model: the folder a stage's model key names (``finetune.model``, ``fill_mask.model``,
``embed.model``, ``init_from``) resolved to a typed ``ModelSource``, with one set of error messages.

A key names one of:

- a workbench model folder (``model.safetensors`` + ``manifest.json``: ``runs/<run>/model``, an imported model);
- a pretraining run folder ``runs/<run>``: its final ``model/``;
- one checkpoint of a run, ``runs/<run>/checkpoints/step-00000200`` or its short form ``runs/<run>/checkpoints/200``
  (or the run folder with ``step=200``): its weights, with the run's architecture and tokenizer;
- a transformers folder (``config.json``);
- a fairseq RoBERTa/CamemBERT folder (``model.pt`` + ``dict.txt``).

Only paths are resolved here (nothing is loaded): each stage then loads the kind it gets
(``evaluation.models``, ``inference.model_loading``, ``training.init_from``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from workbench.artifacts.model_folder import is_model_folder

CHECKPOINTS_DIR = "checkpoints"  # runs/<run>/checkpoints/step-<N>/ (written by workbench.training.checkpoint)
CHECKPOINT_WEIGHTS = "model.safetensors"
_STEP_DIR = re.compile(r"^step-(\d{8})$")
KINDS = ("workbench", "checkpoint", "transformers", "fairseq")
# a transformers folder's weight files (sharded: model-0000N-of-M.* and an index)
TRANSFORMERS_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


class ModelSourceError(ValueError):
    """A model key names no usable model folder; the message names the key, the path and what it accepts."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model is: ``kind`` (one of ``KINDS``) and the folder its weights are in."""

    kind: str  # workbench | checkpoint | transformers | fairseq
    folder: Path  # the weights' folder: runs/<run>/model for a run folder, checkpoints/step-N for a checkpoint
    given: str  # the path as the key named it (for messages)
    run: Optional[Path] = None  # the pretraining run a run folder, its model/ or a checkpoint belongs to
    step: Optional[int] = None  # a checkpoint's step

    @property
    def is_workbench(self) -> bool:
        """Workbench weights (a model folder or a run checkpoint): ``state_dict`` + ``EncoderConfig`` + ``Tokenizer``."""
        return self.kind in ("workbench", "checkpoint")

    @property
    def name(self) -> str:
        """The default leaderboard label: the folder's name, the run's for ``runs/<run>/model``,
        ``<run>@<step>`` for a checkpoint."""
        if self.kind == "checkpoint":
            assert self.run is not None and self.step is not None
            return f"{self.run.name}@{self.step}"
        return folder_label(self.folder)


def folder_label(path: Path) -> str:
    """The folder name; for ``runs/<run>/model`` the run's name."""
    path = path.resolve()
    return path.parent.name if path.name == "model" else path.name


def checkpoint_folder(path: Path) -> Optional[Path]:
    """``path`` as a checkpoint folder ``<run>/checkpoints/step-N`` (``<run>/checkpoints/N`` names it too),
    or None when it is not one."""
    if path.parent.name != CHECKPOINTS_DIR:
        return None
    if _STEP_DIR.match(path.name):
        return path
    if path.name.isdigit():
        return path.parent / step_folder_name(int(path.name))
    return None


def checkpoint_step(path: Path) -> int:
    return int(_STEP_DIR.match(path.name).group(1))  # type: ignore[union-attr]


def step_folder_name(step: int) -> str:
    """The folder name of the checkpoint at ``step`` (zero-padded, so names sort in step order)."""
    return f"step-{int(step):08d}"


def step_folders(directory: Path) -> List[Path]:
    """The checkpoint folders inside a ``checkpoints/`` directory, in step order."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and _STEP_DIR.match(p.name))


def run_checkpoints(run: Path) -> List[Path]:
    """The checkpoint folders of ``run`` in step order."""
    return step_folders(run / CHECKPOINTS_DIR)


def steps_text(run: Path) -> str:
    """What checkpoints ``run`` has, for error messages: ``checkpoints at steps [..]`` or ``no checkpoint``."""
    steps = [checkpoint_step(p) for p in run_checkpoints(run)]
    return f"checkpoints at steps {steps}" if steps else "no checkpoint"


def _required(key: str) -> str:
    return (
        f"{key} is required: a workbench model folder (runs/<run>/model), a pretraining run folder"
        f" (runs/<run>), a checkpoint (runs/<run>/checkpoints/<step>), a transformers folder or a fairseq folder"
        f" (model.pt + dict.txt),"
        f" e.g. {key}=runs/quickstart/model"
    )


def resolve_model_source(path: Optional[str | Path], key: str, step: Optional[int] = None) -> ModelSource:
    """The model ``key=path`` names (see the module docstring); ``step``: that checkpoint of the run ``path``."""
    if path is None or str(path) == "":
        raise ModelSourceError(_required(key))
    given = str(path)
    folder = Path(path).expanduser()
    if step is not None:
        run = folder.parent if folder.name == "model" else folder
        folder = run / CHECKPOINTS_DIR / step_folder_name(step)
    checkpoint = checkpoint_folder(folder)
    if checkpoint is not None:
        run = checkpoint.parent.parent
        if not (checkpoint / CHECKPOINT_WEIGHTS).exists():
            raise ModelSourceError(
                f"{key}={given}: no such checkpoint; checkpoint {checkpoint} does not exist ({run} has {steps_text(run)})"
            )
        return ModelSource("checkpoint", checkpoint, given, run, checkpoint_step(checkpoint))
    if not folder.exists():
        raise ModelSourceError(f"{key}={given}: the folder does not exist")
    if not is_model_folder(folder) and is_model_folder(folder / "model"):
        return ModelSource("workbench", folder / "model", given, folder)  # a pretraining run folder: its final model
    if is_model_folder(folder):
        run = folder.parent if folder.name == "model" else None
        return ModelSource("workbench", folder, given, run)
    if (folder / "config.json").exists():
        return ModelSource("transformers", folder, given)
    from workbench.interop.fairseq_import import is_fairseq_folder

    if is_fairseq_folder(folder):
        return ModelSource("fairseq", folder, given)
    raise ModelSourceError(
        f"{key}={given} is neither a workbench model folder (model.safetensors + manifest.json), a run folder"
        " with a model/ inside, a checkpoint (runs/<run>/checkpoints/<step>), a transformers folder (config.json)"
        f" nor a fairseq folder (model.pt + dict.txt); point {key} at runs/<run>/model, a saved transformers model"
        " or a fairseq RoBERTa/CamemBERT folder"
    )
