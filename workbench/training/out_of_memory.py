"""Device out-of-memory: which batch settings to change, with values that keep the recipe's global batch."""

from __future__ import annotations

from workbench.training.config import HardwareConfig, TrainerConfig


def smaller_micro_batch(global_batch: int, micro_batch: int, world_size: int) -> int:
    """The largest micro-batch of at most half the current one that still divides the per-process batch
    (0 when the micro-batch is already 1)."""
    per_process = global_batch // world_size
    for candidate in range(micro_batch // 2, 0, -1):
        if per_process % candidate == 0:
            return candidate
    return 0


def out_of_memory_advice(trainer: TrainerConfig, hardware: HardwareConfig, world_size: int, where: str, error: BaseException) -> str:
    """One message naming the config keys to change and the values to try."""
    micro, global_batch = trainer.micro_batch_size, trainer.global_batch_size
    accumulation = global_batch // (micro * world_size)
    processes = f"{world_size} process" + ("es" if world_size > 1 else "")
    lines = [
        f"out of device memory {where} with trainer.micro_batch_size={micro} (x {accumulation} accumulated"
        f" micro-batches x {processes} = trainer.global_batch_size={global_batch})."
    ]
    smaller = smaller_micro_batch(global_batch, micro, world_size)
    if smaller:
        lines.append(
            f"Set trainer.micro_batch_size={smaller}: the loop then accumulates {global_batch // (smaller * world_size)}"
            f" micro-batches per update instead of {accumulation}, and the update is the same"
            f" (keep trainer.global_batch_size={global_batch}, it is the recipe's)."
        )
    else:
        lines.append("trainer.micro_batch_size is already 1: the model does not fit one sequence at this length.")
    others = []
    if hardware.precision == "fp32" and hardware.accelerator == "gpu":
        others.append("hardware.precision=bf16 (halves activations)")
    if hardware.strategy != "fsdp":
        others.append("hardware.strategy=fsdp over several devices (shards weights, gradients and Adam state)")
    others.append("a shorter packing.max_seq_len (other shards) or a smaller model")
    lines.append("Other options: " + "; ".join(others) + ".")
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lines.append(f"(torch: {first_line})")
    return " ".join(lines)
