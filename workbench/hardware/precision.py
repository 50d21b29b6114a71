"""``hardware.precision=auto``: bf16 where the device computes it natively, fp32 elsewhere.

CPU: bf16 when the CPU has AVX-512-BF16 or AMX (``workbench.hardware.cpu_features``); without them torch
emulates bf16 through fp32 and bf16 is slower than fp32. GPU: bf16 where CUDA supports it (Ampere and
later), else fp32. TPU: bf16. Resolved once at the start of a stage; the run's config (and so its manifest)
records the precision that ran, the manifest also the CPU's features.

``PrecisionPolicy`` is how the precision that runs is applied, the same in pretraining and fine-tuning: autocast to
bf16/fp16 (fp32: none), a loss scaler for fp16 (CUDA only: fp16 elsewhere is refused with one error naming
``hardware.precision``; a disabled scaler otherwise, whose scale/step/update are the plain backward and step).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import ContextManager

import torch

from workbench.hardware.cpu_features import CpuFeatures, cpu_features
from workbench.training.config import HardwareConfig

log = logging.getLogger(__name__)


def auto_precision(accelerator: str, features: CpuFeatures) -> str:
    if accelerator == "cpu":
        return "bf16" if features.native_bf16 else "fp32"
    if accelerator == "gpu":
        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    return "bf16"  # tpu


def resolve_precision(hardware: HardwareConfig, announce: bool = True) -> HardwareConfig:
    """``hardware`` with ``precision=auto`` replaced by the precision that runs; logs the CPU's bf16 support."""
    features = cpu_features()
    if announce and hardware.accelerator == "cpu":
        log.info("CPU: %s", features.describe())
    if hardware.precision == "auto":
        chosen = auto_precision(hardware.accelerator, features)
        if announce:
            log.info("hardware.precision=auto -> %s", chosen)
        return dataclasses.replace(hardware, precision=chosen)
    if announce and hardware.accelerator == "cpu" and hardware.precision == "bf16" and not features.native_bf16:
        log.warning("hardware.precision=bf16 on a CPU without native bf16 (no avx512_bf16/amx_bf16): torch emulates it,"
                    " slower than fp32; hardware.precision=auto picks fp32 here")
    return hardware


class PrecisionError(ValueError):
    """The precision cannot run on the device."""


@dataclass(frozen=True)
class PrecisionPolicy:
    """Autocast and loss scaling of one resolved precision (fp32, bf16, fp16) on one device type."""

    precision: str
    device_type: str

    def __post_init__(self) -> None:
        if self.precision == "auto":
            raise ValueError("hardware.precision=auto is resolved first (resolve_precision)")
        if self.precision == "fp16" and self.device_type != "cuda":
            raise PrecisionError(f"hardware.precision=fp16 needs a GPU; use bf16 or fp32 on {self.device_type.upper()}")

    @property
    def dtype(self) -> torch.dtype:
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def autocast(self) -> ContextManager:
        """The context the forward pass (and its loss) runs in; fp32: none."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16; for fp32/bf16 a disabled one (scale, unscale_, step and update do nothing more
        than ``loss``, nothing, ``optimizer.step()`` and nothing)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.precision == "fp16")
