"""How the model is spread over the processes: replicated (one process, or DDP) or sharded (FSDP).

Both give the loop the same checkpoint format: full state dicts (``model.safetensors`` with every tensor
whole, the optimizer state keyed by parameter index as ``torch.optim.Optimizer.state_dict()`` writes it),
so a checkpoint written by 8 FSDP processes resumes in 1 process or under DDP, and the other way round.

FSDP is torch's FSDP2 (``torch.distributed.fsdp.fully_shard``): each encoder layer is one unit (its
parameters are gathered for its forward and backward, then freed), the root unit holds the embeddings
and the heads (the tied input/output embedding stays one parameter). Gradients are reduce-scattered after
every micro-batch, so each process only ever keeps its shard of them: more communication under gradient
accumulation than DDP's single all-reduce, but the memory is what FSDP is chosen for.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager, Dict, List

import torch
from torch import nn

from workbench.config.choices import ConfigError
from workbench.training.config import HardwareConfig
from workbench.training.distributed import Runtime
from workbench.training.optimizer import gradient_norm


class Replicated:
    """Every process holds the whole model; under several processes DDP all-reduces the gradients."""

    sharded = False

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training step calls (``model`` itself keeps its parameter names)."""
        if not self.runtime.distributed:
            return model
        return torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[self.runtime.local_rank] if self.runtime.device.type == "cuda" else None,
            find_unused_parameters=model.config.layerdrop > 0,  # skipped layers get no gradient
        )

    def accumulating(self, train_model: nn.Module, last_micro_batch: bool) -> ContextManager:
        """DDP all-reduces once per optimizer step: on the last micro-batch's backward."""
        if last_micro_batch or not self.runtime.distributed:
            return nullcontext()
        return train_model.no_sync()

    def model_state(self, model: nn.Module) -> Dict[str, torch.Tensor]:
        return model.state_dict()

    def optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
        return optimizer.state_dict()

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: Dict[str, Any]) -> None:
        optimizer.load_state_dict(state)

    def gradient_norm(self, model: nn.Module) -> float:
        return gradient_norm(model.parameters())

    def clip_gradients(self, model: nn.Module, max_norm: float) -> torch.Tensor:
        """Scale the gradients to a total norm of at most ``max_norm``; return the norm before clipping, as a
        0-d tensor on the device (read it only when it is logged: no host sync per step)."""
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a DTensor, whole on every rank


class Sharded(Replicated):
    """FSDP2: parameters, gradients and optimizer state sharded over the processes.

    ``model_state`` and ``optimizer_state`` are collectives (every process calls them); the full tensors
    land on rank 0 (in CPU memory), the other ranks get empty dicts.
    """

    sharded = True

    def wrap(self, model: nn.Module) -> nn.Module:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

        mesh = init_device_mesh(self.runtime.device.type, (self.runtime.world_size,))
        for layer in model.encoder.layers:
            fully_shard(layer, mesh=mesh)
            # the encoder calls its last layer through forward_selected (masked positions only), not forward
            register_fsdp_forward_method(layer, "forward_selected")
        fully_shard(model, mesh=mesh)
        return model

    def accumulating(self, train_model: nn.Module, last_micro_batch: bool) -> ContextManager:
        return nullcontext()  # reduce-scatter after every micro-batch: only gradient shards are kept

    def _options(self):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True)

    def model_state(self, model: nn.Module) -> Dict[str, torch.Tensor]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(model, options=self._options())

    def optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> Dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        by_name = get_optimizer_state_dict(model, optimizer, options=self._options())
        return _index_keyed(by_name) if by_name else {}  # empty on ranks other than 0

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: Dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        by_name = _name_keyed(state, _parameter_names(model, optimizer))
        set_optimizer_state_dict(model, optimizer, by_name, options=StateDictOptions(full_state_dict=True))


def _parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> List[str]:
    """The name of each optimizer parameter, in the order ``Optimizer.state_dict()`` numbers them."""
    names = {id(p): name for name, p in model.named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def _index_keyed(by_name: Dict[str, Any]) -> Dict[str, Any]:
    """torch.distributed.checkpoint's name-keyed full optimizer state -> ``Optimizer.state_dict()``'s layout."""
    order = [name for group in by_name["param_groups"] for name in group["params"]]
    index = {name: i for i, name in enumerate(order)}
    return {
        "state": {index[name]: value for name, value in by_name["state"].items()},
        "param_groups": [{**group, "params": [index[name] for name in group["params"]]} for group in by_name["param_groups"]],
    }


def _name_keyed(by_index: Dict[str, Any], names: List[str]) -> Dict[str, Any]:
    if sum(len(group["params"]) for group in by_index["param_groups"]) != len(names):
        raise ConfigError("the checkpoint's optimizer state does not fit this model (another model or parameter grouping)")
    return {
        "state": {names[i]: value for i, value in by_index["state"].items()},
        "param_groups": [{**group, "params": [names[i] for i in group["params"]]} for group in by_index["param_groups"]],
    }


def strategy_for(hardware: HardwareConfig, runtime: Runtime, layerdrop: float) -> Replicated:
    """``hardware.strategy=fsdp`` shards when there are several processes; otherwise the model is replicated
    (DDP under torchrun, whatever ``single``/``ddp`` says: one process per device is the only layout)."""
    if hardware.strategy != "fsdp" or not runtime.distributed:
        return Replicated(runtime)
    if hardware.precision == "fp16":
        raise ConfigError(
            "hardware.strategy=fsdp does not support fp16 loss scaling here (the scaler's inf checks are not"
            " sharded): use hardware.precision=bf16 (or fp32)"
        )
    if layerdrop > 0:
        raise ConfigError(
            f"model.layerdrop={layerdrop} with hardware.strategy=fsdp: processes skipping different layers would"
            " wait on each other's collectives; set model.layerdrop=0 or use hardware.strategy=ddp"
        )
    return Sharded(runtime)
