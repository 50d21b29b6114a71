"""The restricted unpickler for fairseq checkpoints: plain data comes back, code never runs."""

from __future__ import annotations

import argparse
import collections
import os
import pickle
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from workbench.interop.fairseq_checkpoint import PickledRecord, load_fairseq_checkpoint
from workbench.interop.hf_config import InteropError


class _RunsCode:
    """An object whose unpickling would call ``os.system`` (the classic malicious checkpoint)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('/tmp/never').touch()",))


class _Global:
    """A global reference ``module.name`` written by name only (the class need not exist here)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle checks callability; loading must never get here
        raise AssertionError(f"{self.module}.{self.name} was called")


class _NamePickler(pickle._Pickler):  # the pure-Python pickler: lets a test write any global name
    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)


_name_pickle = types.SimpleNamespace(Pickler=_NamePickler, __name__="name_pickle")


class _FairseqMeter:
    """Pickles as a call of ``fairseq.meters.AverageMeter(3.5)``: must become a record, never a fairseq call."""

    def __reduce__(self):
        return (_Global("fairseq.meters", "AverageMeter"), (3.5,))


def _save(tmp_path, payload, pickle_module=pickle) -> str:
    path = tmp_path / "model.pt"
    torch.save(payload, path, pickle_module=pickle_module)
    return str(path)


def test_legacy_namespace_checkpoint_loads_as_plain_data(tmp_path):
    weights = collections.OrderedDict(w=torch.arange(6, dtype=torch.float32).reshape(2, 3), b=torch.ones(2, dtype=torch.float16))
    args = argparse.Namespace(arch="roberta_base", encoder_layers=2, lr=[0.0005], adam_betas=(0.9, 0.98), data="/x")
    extra = {"train_meters": {"loss": np.float64(2.25)}, "best": np.array([1.0, 2.0], dtype=np.float32), "tags": {"a", "b"}}
    state = load_fairseq_checkpoint(_save(tmp_path, {"args": args, "model": weights, "extra_state": extra}))
    assert state["args"] == {"arch": "roberta_base", "encoder_layers": 2, "lr": [0.0005], "adam_betas": (0.9, 0.98), "data": "/x"}
    assert torch.equal(state["model"]["w"], weights["w"]) and state["model"]["b"].dtype == torch.float16
    assert state["extra_state"]["train_meters"]["loss"] == 2.25
    assert state["extra_state"]["best"].tolist() == [1.0, 2.0] and state["extra_state"]["tags"] == {"a", "b"}


def test_omegaconf_config_becomes_a_dict_without_running_omegaconf(tmp_path):
    cfg = OmegaConf.create({
        "model": {"_name": "roberta", "encoder_layers": 3, "max_positions": "${task.tokens_per_sample}", "missing": "???"},
        "task": {"_name": "masked_lm", "tokens_per_sample": 128, "data": None},
        "optimization": {"lr": [0.0001], "update_freq": [1]},
    })
    # fairseq 0.10/0.11 kept argparse Namespaces inside DictConfigs (flag allow_objects)
    cfg = OmegaConf.create({**OmegaConf.to_container(cfg), "common": argparse.Namespace(seed=7)}, flags={"allow_objects": True})
    state = load_fairseq_checkpoint(_save(tmp_path, {"args": None, "cfg": cfg, "model": {"w": torch.zeros(1)}}))
    assert state["cfg"] == {
        "model": {"_name": "roberta", "encoder_layers": 3, "max_positions": 128, "missing": "???"},
        "task": {"_name": "masked_lm", "tokens_per_sample": 128, "data": None},
        "optimization": {"lr": [0.0001], "update_freq": [1]},
        "common": {"seed": 7},
    }


def test_a_record_module_global_is_never_called(tmp_path):
    path = _save(tmp_path, {"model": {}, "extra_state": {"meter": _FairseqMeter()}}, _name_pickle)
    state = load_fairseq_checkpoint(path)
    assert state["extra_state"]["meter"] == 3.5  # the record kept the argument; the callable never ran


@pytest.mark.parametrize("payload", [_RunsCode, _Evaluates])
def test_code_in_a_checkpoint_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    obj = payload(f"touch {marker}") if payload is _RunsCode else payload()
    path = _save(tmp_path, {"model": {"w": torch.zeros(2)}, "args": obj})
    with pytest.raises(InteropError, match=r"refused to load global (posix|os|nt)\.system|refused to load global builtins\.eval"):
        load_fairseq_checkpoint(path)
    assert not marker.exists()
    assert not os.path.exists("/tmp/never") or os.path.getmtime("/tmp/never") < os.path.getmtime(path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(InteropError, match="does not exist"):
        load_fairseq_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(InteropError, match="not a torch zip checkpoint"):
        load_fairseq_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(InteropError, match="no 'model' state dict"):
        load_fairseq_checkpoint(_save(tmp_path, {"weights": {}}))


def test_records_are_inert():
    record = PickledRecord(1, 2)
    record.__setstate__({"x": 1})
    assert not callable(record) and record.args == (1, 2) and record.state == {"x": 1}
