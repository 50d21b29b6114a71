"""Device out-of-memory: one message naming trainer.micro_batch_size with a value that keeps the global batch,
and nothing half-written (the last checkpoint verifies, no model/, no temporary folders, whole metric rows)."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.model.pretraining import PretrainingModel
from workbench.stages.train import train
from workbench.training import checkpoint as ckpt
from workbench.training.config import HardwareConfig, TrainerConfig
from workbench.training.loop import TrainingError
from workbench.training.out_of_memory import out_of_memory_advice, smaller_micro_batch

from .conftest import TINY_RUN, compose_config

CUDA_MESSAGE = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which"
                " 1.05 GiB is free.\nOf the allocated memory 75.3 GiB is allocated by PyTorch")


@pytest.mark.parametrize("global_batch, micro, world, expected", [
    (256, 32, 1, 16),  # halved
    (8192, 24, 8, 8),  # 1024 per process: 12 does not divide it, 8 does
    (96, 4, 3, 2),
    (32, 1, 1, 0),  # nothing smaller
    (30, 6, 1, 3),
])
def test_smaller_micro_batch_keeps_the_global_batch(global_batch, micro, world, expected):
    assert smaller_micro_batch(global_batch, micro, world) == expected
    if expected:
        assert (global_batch // world) % expected == 0 and expected <= micro // 2


def test_advice_names_the_keys_and_values():
    trainer = TrainerConfig(global_batch_size=8192, micro_batch_size=32)
    message = out_of_memory_advice(trainer, HardwareConfig(accelerator="gpu", devices=8, precision="fp32", strategy="ddp"), 8,
                                   "in step 7", torch.OutOfMemoryError(CUDA_MESSAGE))
    assert message.startswith("out of device memory in step 7 with trainer.micro_batch_size=32"
                              " (x 32 accumulated micro-batches x 8 processes = trainer.global_batch_size=8192).")
    assert ("Set trainer.micro_batch_size=16: the loop then accumulates 64 micro-batches per update instead of 32,"
            " and the update is the same (keep trainer.global_batch_size=8192, it is the recipe's).") in message
    assert "hardware.precision=bf16" in message and "hardware.strategy=fsdp" in message
    assert message.endswith("(torch: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB"
                            " of which 1.05 GiB is free.)")
    one = out_of_memory_advice(TrainerConfig(global_batch_size=8, micro_batch_size=1), HardwareConfig(precision="bf16", strategy="fsdp"),
                               1, "in step 1", torch.OutOfMemoryError(""))
    assert "trainer.micro_batch_size is already 1" in one and "hardware.precision" not in one and "strategy" not in one


def test_out_of_memory_in_a_step_stops_with_the_advice_and_writes_nothing_half(sample_artifacts, tmp_path, monkeypatch):
    torch.set_num_threads(1)
    calls = {"n": 0}
    original = PretrainingModel.forward

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # the second micro-batch of step 3 (global 16 = 2 micro-batches of 8)
            raise torch.OutOfMemoryError(CUDA_MESSAGE)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PretrainingModel, "forward", forward)
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(tmp_path), "trainer.eval_every=0",
                                      "trainer.checkpoint_every=2", "run_name=oom"])
    with pytest.raises(TrainingError) as raised:
        train(cfg)
    message = str(raised.value)
    assert message.startswith("out of device memory in step 3 with trainer.micro_batch_size=8"
                              " (x 2 accumulated micro-batches x 1 process = trainer.global_batch_size=16).")
    assert "Set trainer.micro_batch_size=4: the loop then accumulates 4 micro-batches per update instead of 2" in message
    assert "(torch: CUDA out of memory. Tried to allocate 2.00 GiB." in message
    assert isinstance(raised.value.__cause__, torch.OutOfMemoryError)

    run_dir = tmp_path / "oom"
    assert [p.name for p in ckpt.list_checkpoints(run_dir / "checkpoints")] == ["step-00000002"]
    assert ckpt.load_checkpoint(run_dir / "checkpoints" / "step-00000002").step == 2  # verifies its checksums
    hidden = [p for p in run_dir.rglob(".*")]
    assert not hidden, hidden  # no temporary file or folder left
    assert not (run_dir / "model").exists() and not (run_dir / "transformers").exists()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
