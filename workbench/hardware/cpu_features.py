"""CPU features that decide whether bf16 pays on this CPU.

Native bf16 means instructions that multiply bf16 directly: AVX-512-BF16 (``avx512_bf16``: Intel Cooper Lake
and later Xeons, AMD Zen 4 and later) or AMX (``amx_bf16``: Intel Sapphire Rapids and later). Without them
torch's CPU kernels convert bf16 to fp32 and back around fp32 arithmetic, slower than fp32 itself. The flags
come from ``/proc/cpuinfo`` (Linux; elsewhere none are found and bf16 is not called native);
``torch.backends.cpu.get_cpu_capability()`` names the vector ISA torch's kernels were dispatched to.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import torch

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    model: str  # "model name" of /proc/cpuinfo, or platform.processor()
    flags: Tuple[str, ...]  # those of REPORTED_FLAGS the CPU has
    torch_capability: str  # torch.backends.cpu.get_cpu_capability(): e.g. AVX2, AVX512
    native_bf16: bool  # avx512_bf16 or amx_bf16

    def as_dict(self) -> Dict[str, object]:
        record = asdict(self)
        record["flags"] = list(self.flags)
        return record

    def describe(self) -> str:
        native = "native bf16 (" + ", ".join(f for f in self.flags if f in BF16_FLAGS) + ")" if self.native_bf16 else "no native bf16"
        return f"{self.model or 'unknown CPU'}: torch kernels {self.torch_capability}, {native}"


def parse_cpuinfo(text: str) -> Tuple[str, List[str]]:
    """(model name, flags) of the first processor in a ``/proc/cpuinfo`` text."""
    model, flags = "", []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = value.split()
    return model, flags


def features_from(cpuinfo_text: str, torch_capability: str) -> CpuFeatures:
    model, flags = parse_cpuinfo(cpuinfo_text)
    present = set(flags)
    return CpuFeatures(
        model=model or platform.processor(),
        flags=tuple(flag for flag in REPORTED_FLAGS if flag in present),
        torch_capability=torch_capability,
        native_bf16=any(flag in present for flag in BF16_FLAGS),
    )


@lru_cache(maxsize=1)
def cpu_features() -> CpuFeatures:
    """This machine's features (read once per process)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return features_from(text, torch.backends.cpu.get_cpu_capability())
