"""``hardware.precision=auto``: bf16 where the device computes it natively, fp32 elsewhere.

CPU: bf16 when the CPU has AVX-512-BF16 or AMX (``workbench.hardware.cpu_features``); without them torch
emulates bf16 through fp32 and bf16 is slower than fp32. GPU: bf16 where CUDA supports it (Ampere and
later), else fp32. TPU: bf16. Resolved once at the start of a stage; the run's config (and so its manifest)
records the precision that ran, the manifest also the CPU's features.
"""

from __future__ import annotations

import dataclasses
import logging

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
