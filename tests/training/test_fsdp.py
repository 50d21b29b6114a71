"""FSDP (torch's fully_shard, 2 processes under torchrun, gloo on CPU) trains like 1 process with the same global
batch, and its checkpoints are the single-process format: a run goes FSDP -> 1 process -> FSDP and ends where an
uninterrupted single-process run ends."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from workbench.config.choices import ConfigError
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.stages.train import train
from workbench.training import checkpoint as ckpt
from workbench.training.config import HardwareConfig, OptimizerConfig
from workbench.training.distributed import Runtime
from workbench.training.metrics_log import read_metrics
from workbench.training.optimizer import build_optimizer
from workbench.training.strategy import _index_keyed, _name_keyed, _parameter_names, strategy_for

from .conftest import TINY_RUN, assert_same_training_steps, compose_config, run_torchrun

# Dropout off: its masks come from each process's own RNG stream, so they cannot match a different split.
RUN = [*TINY_RUN, "model.dropout=0.0", "model.attention_dropout=0.0", "trainer.max_steps=8", "trainer.global_batch_size=16",
       "trainer.micro_batch_size=4", "trainer.eval_every=4", "trainer.checkpoint_every=2", "run_name=fsdp"]
FSDP = ["hardware.devices=2", "hardware.strategy=fsdp"]


def _ok(process):
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]


def _checkpoint(runs, step):
    return ckpt.load_checkpoint(runs / "fsdp" / "checkpoints" / f"step-{step:08d}")


@pytest.mark.slow
def test_fsdp_matches_one_process_and_its_checkpoints_move_between_strategies(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    single_runs, mixed_runs = tmp_path / "single", tmp_path / "mixed"
    reference_run = train(compose_config("pipeline", [*RUN, *sample_artifacts.paths(single_runs)]))  # 1 process, in-process
    assert reference_run.steps == 8
    mixed = [*RUN, *sample_artifacts.paths(mixed_runs)]
    _ok(run_torchrun(["train", *mixed, *FSDP, "trainer.stop_at_step=4"], cwd=tmp_path))  # steps 1-4 sharded

    # the FSDP checkpoint is the single-process format: same tensors (whole), same optimizer state layout
    sharded, reference = _checkpoint(mixed_runs, 4), _checkpoint(single_runs, 4)
    assert sharded.model_state.keys() == reference.model_state.keys()
    for name, tensor in reference.model_state.items():
        torch.testing.assert_close(sharded.model_state[name], tensor, rtol=1e-4, atol=1e-6)
    ours, theirs = sharded.state["optimizer"], reference.state["optimizer"]
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    assert ours["state"].keys() == theirs["state"].keys()
    for index, moments in theirs["state"].items():
        for key, value in moments.items():
            torch.testing.assert_close(ours["state"][index][key], value, rtol=1e-3, atol=1e-8)

    # steps 5-6 in one process from the FSDP checkpoint, then 7-8 sharded again from the 1-process checkpoint
    assert train(compose_config("pipeline", [*mixed, "trainer.stop_at_step=6"])).steps == 6
    resumed = run_torchrun(["train", *mixed, *FSDP], cwd=tmp_path)
    _ok(resumed)
    assert "(step 6)" in resumed.stdout + resumed.stderr  # "resumed from .../step-00000006 (step 6)"

    one, two = read_metrics(single_runs / "fsdp", "train"), read_metrics(mixed_runs / "fsdp", "train")
    assert_same_training_steps(one, two, steps=8)
    valid_one = {r["step"]: r["loss"] for r in read_metrics(single_runs / "fsdp", "valid")}
    valid_two = {r["step"]: r["loss"] for r in read_metrics(mixed_runs / "fsdp", "valid")}
    assert list(valid_one) == [4, 8] and list(valid_two) == [4, 6, 8]  # 6: where the 1-process part stopped
    assert [valid_two[4], valid_two[8]] == pytest.approx([valid_one[4], valid_one[8]], rel=1e-5)
    a = load_file(str(single_runs / "fsdp" / "model" / "model.safetensors"))
    b = load_file(str(mixed_runs / "fsdp" / "model" / "model.safetensors"))  # gathered from the shards at the end
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-6)


CPU_PAIR = Runtime(rank=0, world_size=2, local_rank=0, device=torch.device("cpu"))


def test_fsdp_is_chosen_for_several_processes_and_refuses_what_it_cannot_shard():
    assert strategy_for(HardwareConfig(strategy="fsdp"), CPU_PAIR, layerdrop=0.0).sharded
    alone = Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    assert not strategy_for(HardwareConfig(strategy="fsdp"), alone, layerdrop=0.0).sharded  # one process: nothing to shard
    assert not strategy_for(HardwareConfig(strategy="ddp"), CPU_PAIR, layerdrop=0.0).sharded
    with pytest.raises(ConfigError, match=r"hardware.strategy=fsdp does not support fp16 .* use hardware.precision=bf16"):
        strategy_for(HardwareConfig(strategy="fsdp", precision="fp16"), CPU_PAIR, layerdrop=0.0)
    with pytest.raises(ConfigError, match=r"model.layerdrop=0.2 with hardware.strategy=fsdp: .* set model.layerdrop=0"):
        strategy_for(HardwareConfig(strategy="fsdp"), CPU_PAIR, layerdrop=0.2)


def test_optimizer_state_by_name_and_by_index_are_the_same_state():
    config = EncoderConfig(size="tiny", vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                           max_positions=16, dropout=0.0, attention_dropout=0.0)
    model = PretrainingModel(config)
    optimizer = build_optimizer(model, OptimizerConfig())
    ids = torch.randint(5, 50, (2, 8), generator=torch.Generator().manual_seed(0))
    model(ids, torch.ones_like(ids, dtype=torch.bool), ids).loss.backward()
    optimizer.step()
    by_index = optimizer.state_dict()
    names = _parameter_names(model, optimizer)
    assert names[0] == "encoder.embeddings.word_embeddings.weight" and "mlm_head.decoder.weight" not in names  # tied: once
    by_name = _name_keyed(by_index, names)
    assert set(by_name["state"]) == set(names)
    assert _index_keyed(by_name) == by_index
    with pytest.raises(ConfigError, match="does not fit this model"):
        _name_keyed(by_index, names[:-1])
