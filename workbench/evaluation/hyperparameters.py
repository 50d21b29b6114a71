"""The resolved hyperparameters of one fine-tuning job: the task's recipe, overridden by ``finetune.*``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from workbench.evaluation.config import FinetuneConfig, TaskConfig


@dataclass(frozen=True)
class Hyperparameters:
    lr: float
    epochs: float
    batch_size: int
    warmup_ratio: float
    weight_decay: float
    lr_schedule: str
    schedule: str
    frozen_epochs: float
    frozen_lr: float
    grad_clip: float
    adam_betas: List[float]
    adam_eps: float
    max_seq_len: int
    dropout: Optional[float] = None  # None: the model's own (finetune.dropout)
    attention_dropout: Optional[float] = None

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        for key in ("dropout", "attention_dropout"):  # unset: the identity of jobs stored before these existed
            if data[key] is None:
                del data[key]
        if self.schedule != "two_phase":  # irrelevant knobs must not split identical jobs
            del data["frozen_epochs"], data["frozen_lr"]
        return data


def resolve_hyperparameters(task: TaskConfig, finetune: FinetuneConfig) -> Hyperparameters:
    recipe = task.recipe

    def pick(value, default):
        return default if value is None else value

    return Hyperparameters(
        lr=float(pick(finetune.lr, recipe.lr)),
        epochs=float(pick(finetune.epochs, recipe.epochs)),
        batch_size=int(pick(finetune.batch_size, recipe.batch_size)),
        warmup_ratio=float(pick(finetune.warmup_ratio, recipe.warmup_ratio)),
        weight_decay=float(pick(finetune.weight_decay, recipe.weight_decay)),
        lr_schedule=finetune.lr_schedule,
        schedule=finetune.schedule,
        frozen_epochs=float(finetune.frozen_epochs),
        frozen_lr=float(finetune.frozen_lr),
        grad_clip=float(finetune.grad_clip),
        adam_betas=[float(b) for b in finetune.adam_betas],
        adam_eps=float(finetune.adam_eps),
        max_seq_len=int(task.max_seq_len),
        dropout=None if finetune.dropout is None else float(finetune.dropout),
        attention_dropout=None if finetune.attention_dropout is None else float(finetune.attention_dropout),
    )
