"""``TrainState``: what a pretraining run holds between steps, and exactly what a checkpoint restores.

The model (unwrapped: its parameter names are the checkpoint's), optimizer, schedule, loss scaler, data position
(the loader and which shard set it reads), step, consecutive non-finite losses and tokens seen; the global RNG
states are taken when a checkpoint is written and set back on resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from torch import nn

from workbench.corpus.loader import BatchLoader
from workbench.training import checkpoint as ckpt
from workbench.training.strategy import Replicated
from workbench.training.train_step import BadSteps


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loader: BatchLoader
    data_identity: str  # the shard set the loader position is in ("<folder>:<config hash>")
    bad_steps: BadSteps
    step: int = 0
    tokens_seen: int = 0  # real (non-padding) tokens of the applied steps, all processes: a checkpoint's pretraining tokens

    def checkpoint_state(self, optimizer_state: Dict[str, Any]) -> Dict[str, Any]:
        """``state.pt`` of a checkpoint (``optimizer_state``: the full optimizer state, ``Strategy.optimizer_state``)."""
        return {
            "optimizer": optimizer_state,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": ckpt.rng_state(),
            "bad_steps": self.bad_steps.count,
            "tokens": self.tokens_seen,
            "data": self.data_identity,
        }

    def restore(self, resumed: ckpt.Checkpoint, strategy: Replicated) -> Optional[str]:
        """Everything but the weights (loaded into the model before DDP/FSDP wrap it) from ``resumed``. Returns the
        checkpoint's shard set when it is another one (a new phase, e.g. BERT's 512-token phase: the new shards
        are read from their first batch), else None."""
        state = resumed.state
        strategy.load_optimizer_state(self.model, self.optimizer, state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        other_data = None
        if state.get("data", self.data_identity) == self.data_identity:
            self.loader.load_state_dict(state["loader"])
        else:
            other_data = state["data"]
        ckpt.set_rng_state(state["rng"])
        self.step, self.bad_steps.count = resumed.step, int(state["bad_steps"])
        self.tokens_seen = int(state.get("tokens", 0))  # checkpoints written before it was recorded: from 0
        return other_data
