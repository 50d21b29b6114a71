"""Intermediate checkpoints of a pretraining run as fine-tuning models (the pretraining-gain curve).

``finetune.model=runs/<run>/checkpoints/step-00000200`` (or ``.../checkpoints/200``) fine-tunes one
checkpoint; ``finetune.model=runs/<run> finetune.checkpoints=all`` (or ``last``, or steps such as
``'200,400'``) every selected one. A checkpoint's leaderboard name is ``<run>@<step>``; its pretraining
position (step, and the real tokens seen, recorded in the checkpoint's ``state.pt`` by the training loop)
is stored with its results. The architecture and tokenizer come from the run's ``model/`` folder when the
run is finished, else from its resolved ``config.yaml`` (the tokenizer folder it names).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

from workbench.evaluation.errors import FinetuneError
from workbench.interop.model_source import CHECKPOINTS_DIR, checkpoint_folder, checkpoint_step, run_checkpoints

if TYPE_CHECKING:
    import torch

    from workbench.model.config import EncoderConfig
    from workbench.tokenization.tokenizer import Tokenizer


def checkpoint_name(path: Path, model_name: Optional[str] = None) -> str:
    """``<run>@<step>`` (``<model_name>@<step>`` when finetune.model_name is set)."""
    return f"{model_name or path.parent.parent.name}@{checkpoint_step(path)}"


def select_checkpoints(run: Path, selector: str) -> List[Path]:
    """The checkpoints of ``run`` that ``finetune.checkpoints`` selects, in step order: ``all``, ``last``, or
    steps separated by commas or spaces (``'200,400'``)."""
    if run.name == "model" and (run.parent / CHECKPOINTS_DIR).is_dir():
        run = run.parent  # runs/<run>/model (an experiment's finetune.model): its run's checkpoints
    if checkpoint_folder(run) is not None:
        raise FinetuneError(
            f"finetune.checkpoints={selector!r} selects checkpoints of a run folder; finetune.model={run} is one"
            f" checkpoint already: point it at the run ({run.parent.parent}) or drop finetune.checkpoints"
        )
    available = run_checkpoints(run)
    if not available:
        raise FinetuneError(
            f"finetune.checkpoints={selector!r}: {run / CHECKPOINTS_DIR} holds no checkpoint; point finetune.model at a"
            " pretraining run folder (runs/<run>), and keep more checkpoints while pretraining (trainer.keep_last)"
        )
    words = [word for word in re.split(r"[,\s]+", selector.strip()) if word]
    if words == ["all"]:
        return available
    if words == ["last"]:
        return available[-1:]
    by_step = {checkpoint_step(path): path for path in available}
    chosen = []
    for word in words:
        if not word.isdigit():
            raise FinetuneError(f"finetune.checkpoints={selector!r}: {word!r} is not a step; use all, last or steps like '200,400'")
        if int(word) not in by_step:
            raise FinetuneError(
                f"finetune.checkpoints={selector!r}: {run} has no checkpoint at step {word}; it has steps {sorted(by_step)}"
            )
        chosen.append(by_step[int(word)])
    return sorted(set(chosen))


@dataclass
class RunCheckpoint:
    path: Path
    step: int
    tokens: Optional[int]  # real tokens pretrained on up to this step (None: not recorded by an older workbench)
    state_dict: Dict[str, "torch.Tensor"]
    weights_hash: str
    encoder_config: "EncoderConfig"
    tokenizer: "Tokenizer"

    def position(self) -> Dict[str, int]:
        return {"step": self.step, **({"tokens": self.tokens} if self.tokens is not None else {})}


def _run_architecture(run: Path):
    """(EncoderConfig, Tokenizer) of a run: its model/ folder, else its config.yaml and tokenizer folder."""
    from workbench.artifacts.model_folder import CONFIG_FILE, TOKENIZER_DIR, is_model_folder
    from workbench.model.config import EncoderConfig
    from workbench.tokenization.tokenizer import Tokenizer

    if is_model_folder(run / "model"):
        config = EncoderConfig(**json.loads((run / "model" / CONFIG_FILE).read_text(encoding="utf-8")))
        return config, Tokenizer.load(run / "model" / TOKENIZER_DIR)
    from omegaconf import OmegaConf

    from workbench.training.loop import resolve_encoder_config

    resolved = run / "config.yaml"
    if not resolved.exists():
        raise FinetuneError(f"{run}: neither a finished model/ folder nor config.yaml; is it a pretraining run folder?")
    cfg = OmegaConf.load(resolved)
    tokenizer_dir = Path(str(cfg.paths.tokenizers)) / str(cfg.tokenizer.name)
    if not tokenizer_dir.is_dir():
        raise FinetuneError(f"{run}/config.yaml names tokenizer folder {tokenizer_dir}, which does not exist here (run from the folder the run was trained in)")
    tokenizer = Tokenizer.load(tokenizer_dir)
    model = EncoderConfig(**OmegaConf.to_container(cfg.model, resolve=True))  # type: ignore[arg-type]
    return resolve_encoder_config(model, tokenizer), tokenizer


def load_run_checkpoint(path: Path) -> RunCheckpoint:
    from workbench.training.checkpoint import CheckpointError, load_checkpoint

    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        raise FinetuneError(str(error)) from None
    config, tokenizer = _run_architecture(path.parent.parent)
    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    tokens = loaded.state.get("tokens")
    return RunCheckpoint(path, loaded.step, None if tokens is None else int(tokens), loaded.model_state,
                         meta["sha256"]["model.safetensors"][:16], config, tokenizer)

