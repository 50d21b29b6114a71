"""Schemas of the ``trainer`` and ``hardware`` config groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from workbench.config.choices import ConfigError, check_choice, check_positive
from workbench.objectives.config import ObjectiveConfig

OPTIMIZERS = ("adamw",)
SCHEDULES = ("linear", "polynomial", "inverse_sqrt", "constant")
ACCELERATORS = ("cpu", "gpu", "tpu")
PRECISIONS = ("fp32", "bf16", "fp16")  # what runs
PRECISION_CHOICES = (*PRECISIONS, "auto")  # auto: bf16 where the device has native bf16, else fp32
STRATEGIES = ("single", "ddp", "fsdp")


@dataclass
class OptimizerConfig:
    name: str = "adamw"
    lr: float = 1e-4  # peak learning rate
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-6
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        check_choice("trainer.optimizer.name", self.name, OPTIMIZERS)
        check_positive("trainer.optimizer.lr", self.lr)
        if len(self.betas) != 2:
            raise ConfigError(f"trainer.optimizer.betas={self.betas} must have two values, e.g. [0.9, 0.98]")


@dataclass
class SchedulerConfig:
    name: str = "linear"  # linear warmup then: linear decay | polynomial decay | inverse square root | constant
    warmup_steps: int = 10_000
    power: float = 1.0  # polynomial decay
    end_lr: float = 0.0

    def __post_init__(self) -> None:
        check_choice("trainer.scheduler.name", self.name, SCHEDULES)
        check_positive("trainer.scheduler.warmup_steps", self.warmup_steps, allow_zero=True)


@dataclass
class TrainerConfig:
    max_steps: int = 1000  # optimizer steps
    global_batch_size: int = 256  # sequences per optimizer step: a property of the recipe
    micro_batch_size: int = 32  # sequences per forward pass on one device; accumulation fills the rest
    grad_clip: float = 1.0  # 0 disables clipping
    log_every: int = 10
    eval_every: int = 500  # validation loss on held-out shards; 0 disables
    eval_batches: int = 20  # held-out micro-batches in total over all processes (rounded up to a multiple of them)
    checkpoint_every: int = 1000
    keep_last: int = 3
    max_bad_steps: int = 10  # consecutive NaN/Inf losses before training stops
    compile: bool = False  # torch.compile the model
    # End this invocation at that step with a checkpoint (no model/ folder), the schedule still planned over
    # max_steps; rerun with the same run_name (e.g. other shards: BERT's 128 -> 512 phases) to go on. None: run to max_steps.
    stop_at_step: Optional[int] = None
    # At the end of training, also write runs/<run>/transformers/ (the family's transformers masked-LM class and the
    # tokenizer files; skipped with a logged reason when transformers is not installed). false: model/ only.
    export_transformers: bool = True
    # When the run folder has checkpoints and none of them loads (all damaged), the run stops listing each and why;
    # true starts over from step 0 instead, deleting them. A loadable checkpoint is resumed either way.
    restart: bool = False
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)

    def __post_init__(self) -> None:
        check_positive("trainer.max_steps", self.max_steps)
        check_positive("trainer.global_batch_size", self.global_batch_size)
        check_positive("trainer.micro_batch_size", self.micro_batch_size)
        if self.stop_at_step is not None and not 0 < self.stop_at_step <= self.max_steps:
            raise ConfigError(
                f"trainer.stop_at_step={self.stop_at_step} must be in [1, trainer.max_steps={self.max_steps}];"
                " set it to null to train to max_steps"
            )


@dataclass
class HardwareConfig:
    accelerator: str = "cpu"
    devices: int = 1  # processes per node (torchrun --nproc_per_node)
    precision: str = "fp32"  # fp32 | bf16 | fp16 | auto (resolved at start-up: workbench.hardware.precision)
    # Under torchrun with several processes: ddp (every process holds the model, gradients all-reduced) or fsdp
    # (FSDP2: weights, gradients and optimizer state sharded; fp32/bf16). One process: the model as is.
    strategy: str = "single"
    num_threads: int = 0  # torch intra-op threads; 0 leaves torch's default
    # dense peak TFLOP/s of one device per precision, for model FLOPs utilization (MFU = executed / peak); the 1.0
    # placeholders stand for "unknown" (conf/hardware/*.yaml sets real ones; benchmarks/bench_peak.py measures a CPU's)
    peak_tflops: Dict[str, float] = field(default_factory=lambda: {"fp32": 1.0, "bf16": 1.0, "fp16": 1.0})

    def __post_init__(self) -> None:
        check_choice("hardware.accelerator", self.accelerator, ACCELERATORS)
        check_choice("hardware.precision", self.precision, PRECISION_CHOICES)
        check_choice("hardware.strategy", self.strategy, STRATEGIES)
        check_positive("hardware.devices", self.devices)
        for key, value in self.peak_tflops.items():
            check_choice("a key of hardware.peak_tflops", key, PRECISIONS)
            check_positive(f"hardware.peak_tflops.{key}", value)

    def peak_for(self) -> float:
        """The peak TFLOP/s of the precision that runs (``auto`` must be resolved first)."""
        if self.precision == "auto":
            raise ValueError("hardware.precision=auto is resolved at start-up (workbench.hardware.precision.resolve_precision)")
        return self.peak_tflops[self.precision]
