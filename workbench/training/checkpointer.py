"""The run's checkpointer: which checkpoint a run resumes from, and when and how a ``TrainState`` is written.

The checkpoint format, verification and fallback are ``workbench.training.checkpoint``; this composes them with
the run's settings (``trainer.checkpoint_every``, ``keep_last``, ``restart``) and the strategy (under FSDP, gathering
the full state is a collective: every process calls ``save``, rank 0 writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from workbench.training import checkpoint as ckpt
from workbench.training.distributed import Runtime
from workbench.training.state import TrainState
from workbench.training.strategy import Replicated


class Checkpointer:
    def __init__(self, directory: Path, every: int, keep_last: int, strategy: Replicated, runtime: Runtime) -> None:
        self.directory, self.every, self.keep_last = directory, every, keep_last
        self.strategy, self.runtime = strategy, runtime

    def latest(self, restart: bool) -> Optional[ckpt.Checkpoint]:
        """The newest checkpoint that loads (None: start from step 0); with ``restart`` and only damaged ones, those
        are deleted (a loadable checkpoint is always resumed)."""
        resumed = ckpt.load_latest(self.directory, restart=restart)
        if resumed is None and restart and self.runtime.is_main:
            ckpt.discard_checkpoints(self.directory)
        return resumed

    def due(self, step: int, last_step: int) -> bool:
        return step % self.every == 0 or step == last_step

    def save(self, state: TrainState) -> None:
        # full state dicts; under FSDP gathering them is a collective, so every process calls this
        weights = self.strategy.model_state(state.model)
        optimizer_state = self.strategy.optimizer_state(state.model, state.optimizer)
        if self.runtime.is_main:
            ckpt.save_checkpoint(self.directory, state.step, weights, state.checkpoint_state(optimizer_state), self.keep_last)
