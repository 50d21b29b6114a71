"""Each fine-tuning job's tensorboard/ folder, read back with TensorBoard's own EventAccumulator: the scalars equal
the job's curves.jsonl and scores, the lr follows the schedule, and the hyperparameters form one HParams session."""

from __future__ import annotations

import json
import math

import pytest

from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.training.schedule import finetune_lr_multiplier as lr_multiplier
from workbench.training.config import HardwareConfig

ONE_THREAD = HardwareConfig(num_threads=1)


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})  # 0: keep every event
    accumulator.Reload()
    return accumulator


def _scalars(accumulator, tag):
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_finetuning_job_writes_its_curves_lr_and_hparams_to_tensorboard(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="allocine_tb", format="csv", train=csv_path, dev=csv_path,
                      test=str(shared_data / "allocine_fr/test_data_allocine.csv"),
                      max_train_examples=24, max_eval_examples=16, max_seq_len=32)
    # 24 examples / batch 8 = 3 steps an epoch, 2 epochs: 6 steps, a loss row every 2; evals_per_epoch=2 of 3 steps
    # evaluates dev every step (every 3 // 2 = 1 step, and at the end of each epoch)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=1e-3, epochs=2, batch_size=8,
                              warmup_ratio=0.5, log_every=2, evals_per_epoch=2)
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    run = result.run_dir
    assert not any(p.name.endswith(".live") for p in run.parent.iterdir())  # the live folder moved into the job's
    events = _events(run / "tensorboard")
    curves = [json.loads(line) for line in (run / "curves.jsonl").read_text(encoding="utf-8").splitlines()]

    # float32 event values: compared with the float64 curves to float32's relative precision (2**-24 ~ 6e-8)
    def close(actual, expected):
        return [s for s, _ in actual] == [s for s, _ in expected] and all(
            math.isclose(a, e, rel_tol=1e-6, abs_tol=1e-6) for (_, a), (_, e) in zip(actual, expected))

    loss = [(c["step"], c["value"]) for c in curves if c["split"] == "train" and c["metric"] == "loss"]
    assert [s for s, _ in loss] == [2, 4, 6] and close(_scalars(events, "train/loss"), loss)
    total, warmup = 6, 3  # AdamW's lr at each logged step: the one that step was taken with (step k: done = k - 1)
    expected_lr = [(s, 1e-3 * lr_multiplier(s - 1, total, warmup, "linear")) for s, _ in loss]
    assert close(_scalars(events, "train/lr"), expected_lr)
    dev = [(c["step"], c["value"]) for c in curves if c["split"] == "dev" and c["metric"] == "accuracy"]
    assert [s for s, _ in dev] == [1, 2, 3, 4, 5, 6] and close(_scalars(events, "dev/accuracy"), dev)
    for split in ("dev", "test"):  # the best-dev model's scores, at the last step
        assert close(_scalars(events, f"final/{split}/accuracy"), [(6, result.scores[split]["accuracy"])])

    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    sessions = [plugin_data_pb2.HParamsPluginData.FromString(c) for tag, c in content.items() if tag == "_hparams_/session_start_info"]
    assert len(sessions) == 1
    hparams = {k: v.ListFields()[0][1] for k, v in sessions[0].session_start_info.hparams.items()}
    assert hparams["lr"] == pytest.approx(1e-3) and hparams["batch_size"] == 8 and hparams["model"] == "tiny"
    assert hparams["task"] == "allocine_tb" and hparams["seed"] == 0 and hparams["init"] == "pretrained"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} >= {"final/dev/accuracy", "final/test/accuracy"}
