"""bf16 autocast through the real training loop on CPU: the same run as fp32 within bf16's precision, exact
resume in bf16, and ``hardware.precision=auto`` (bf16 only where the CPU has native bf16)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from workbench.hardware.cpu_features import cpu_features, features_from
from workbench.hardware.precision import auto_precision, resolve_precision
from workbench.stages.train import train
from workbench.training.config import HardwareConfig
from workbench.training.metrics_log import read_metrics

from .conftest import TINY_RUN, compose_config


def _run(sample_artifacts, runs, name, precision, steps=8, extra=()):
    cfg = compose_config("pipeline", [*TINY_RUN, *sample_artifacts.paths(runs), f"trainer.max_steps={steps}", "trainer.eval_every=0",
                                      "trainer.checkpoint_every=100", f"run_name={name}", f"hardware.precision={precision}", *extra])
    train(cfg)
    return [row["loss"] for row in read_metrics(runs / name, "train")]


def _losses(sample_artifacts, runs, name, precision):
    return _run(sample_artifacts, runs, name, precision)


def test_bf16_training_tracks_fp32_on_cpu(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    fp32 = _losses(sample_artifacts, tmp_path, "fp32", "fp32")
    bf16 = _losses(sample_artifacts, tmp_path, "bf16", "bf16")
    assert len(bf16) == len(fp32) == 8 and all(math.isfinite(loss) for loss in bf16)
    assert bf16 != fp32  # autocast really ran in bf16 ...
    for ours, reference in zip(bf16, fp32):  # ... and stays within bf16's ~3 significant digits of fp32
        assert ours == pytest.approx(reference, rel=0.02)
    # over the short run, the mean loss within 1% (bf16 rounds each product to 8 mantissa bits: ~0.4% per value,
    # averaging out over the tokens and steps)
    assert sum(bf16) / len(bf16) == pytest.approx(sum(fp32) / len(fp32), rel=0.01)


def test_bf16_resume_is_exact(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    whole = _run(sample_artifacts, tmp_path / "a", "bf16", "bf16", steps=8)
    first = _run(sample_artifacts, tmp_path / "b", "bf16", "bf16", steps=8, extra=["trainer.stop_at_step=4", "trainer.checkpoint_every=4"])
    assert len(first) == 4 and not (tmp_path / "b" / "bf16" / "model").exists()
    resumed = _run(sample_artifacts, tmp_path / "b", "bf16", "bf16", steps=8)
    assert resumed == whole  # the loss of every step, bit for bit
    a, b = (load_file(str(runs / "bf16" / "model" / "model.safetensors")) for runs in (tmp_path / "a", tmp_path / "b"))
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_auto_precision_follows_native_bf16(sample_artifacts, tmp_path):
    torch.set_num_threads(1)
    _run(sample_artifacts, tmp_path, "auto", "auto", steps=2)
    manifest = json.loads((tmp_path / "auto" / "model" / "manifest.json").read_text(encoding="utf-8"))
    expected = "bf16" if cpu_features().native_bf16 else "fp32"
    assert manifest["config"]["hardware"]["precision"] == expected  # the precision that ran, not "auto"
    assert manifest["cpu"] == cpu_features().as_dict()


CPUINFO = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 fma avx512f {extra}\n\nprocessor\t: 1\nflags\t: x\n"


@pytest.mark.parametrize("extra, native", [("", False), ("avx512_bf16", True), ("amx_tile amx_bf16", True), ("avx512_vnni", False)])
def test_native_bf16_detection_and_auto_choice(extra, native):
    features = features_from(CPUINFO.format(extra=extra), "AVX512")
    assert features.model == "Some CPU" and features.native_bf16 is native
    assert "avx2" in features.flags and "fpu" not in features.flags  # the reported subset, first processor only
    assert auto_precision("cpu", features) == ("bf16" if native else "fp32")
    assert ("no native bf16" in features.describe()) is not native and features.torch_capability in features.describe()


def test_resolve_precision_leaves_explicit_precisions():
    hardware = HardwareConfig(precision="fp32")
    assert resolve_precision(hardware) is hardware
    auto = resolve_precision(HardwareConfig(precision="auto"))
    assert auto.precision == ("bf16" if cpu_features().native_bf16 else "fp32")
