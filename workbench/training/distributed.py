"""Process group set-up through torch.distributed (launched by torchrun); nothing home-made."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from workbench.training.config import HardwareConfig


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


class HardwareError(ValueError):
    """The requested hardware is not available here."""


def _export_submitit_environment() -> None:
    """Inside a job of Hydra's submitit launcher (SLURM, or local) the processes come from SLURM's tasks, not
    torchrun: submitit's own helper exports RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT for them."""
    if "WORLD_SIZE" in os.environ or not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


def setup(hardware: HardwareConfig) -> Runtime:
    """Join the process group torchrun (or a submitit job) prepared (WORLD_SIZE/RANK env), pick the device."""
    _export_submitit_environment()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if hardware.num_threads > 0:
        torch.set_num_threads(hardware.num_threads)
    if hardware.accelerator == "gpu":
        if not torch.cuda.is_available():
            raise HardwareError("hardware=gpu but no CUDA device is visible; use hardware=cpu")
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "cpu:gloo,cuda:nccl"  # the loop's small counters are CPU tensors: NCCL only takes CUDA ones
    elif hardware.accelerator == "tpu":
        try:
            import torch_xla.core.xla_model as xm  # type: ignore[import-not-found]
        except ImportError:
            raise HardwareError("hardware=tpu needs torch_xla: pip install -e .[tpu]") from None
        device = xm.xla_device()
        backend = "xla"  # registered by torch_xla.distributed.xla_backend; torchrun works with init_method xla://
    else:
        device = torch.device("cpu")
        backend = "gloo"
    if world_size > 1 and not dist.is_initialized():
        if backend == "xla":
            import torch_xla.distributed.xla_backend  # type: ignore[import-not-found]  # noqa: F401

            dist.init_process_group(backend=backend, init_method="xla://")
        else:
            dist.init_process_group(backend=backend)
    return Runtime(rank, world_size, local_rank, device)


def all_reduce_sum(value: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    if runtime.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_reduce_min(value: int, runtime: Runtime) -> int:
    if not runtime.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor[0])


def teardown(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.destroy_process_group()
