"""tracking=none|mlflow: the config group, flattened params, and the one-line errors (typo, missing MLflow, bad URI)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import List, Optional

import pytest

from workbench.config.choices import ConfigError
from workbench.tracking.config import TrackingConfig
from workbench.tracking.mlflow_run import mlflow_missing, start_run, store_uri
from workbench.tracking.params import MAX_KEY, MAX_VALUE, flatten_params

from ..training.conftest import compose_config


@dataclass
class _Inner:
    lr: float = 1e-3
    betas: List[float] = field(default_factory=lambda: [0.9, 0.98])
    name: Optional[str] = None


@dataclass
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    flag: bool = True
    text: str = "a b"
    empty: dict = field(default_factory=dict)


def test_flatten_params_walks_dataclasses_and_writes_leaves_as_json():
    assert flatten_params(_Outer()) == {"inner.lr": "0.001", "inner.betas": "[0.9, 0.98]", "inner.name": "null",
                                        "flag": "true", "text": "a b", "empty": "{}"}
    long = flatten_params({"k" * 300: "v" * 7000})
    [(key, value)] = long.items()
    assert len(key) == MAX_KEY and key.endswith("k") and len(value) == MAX_VALUE and value.endswith("...")


def test_tracking_group_composes_and_a_wrong_backend_names_the_key(tmp_path):
    assert compose_config("eval", []).tracking == TrackingConfig()  # the default: tracking=none
    cfg = compose_config("pipeline", ["tracking=mlflow", "tracking.experiment=mine"])
    assert cfg.tracking.backend == "mlflow" and cfg.tracking.enabled and cfg.tracking.uri is None
    assert cfg.tracking.experiment == "mine" and cfg.tracking.log_models
    with pytest.raises(Exception, match="tracking.backend"):
        TrackingConfig(backend="wandb")
    assert store_uri(TrackingConfig(backend="mlflow"), tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert store_uri(TrackingConfig(backend="mlflow", uri="http://host:5000"), tmp_path) == "http://host:5000"


def test_missing_mlflow_is_one_error_with_the_install_command(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def without_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_mlflow)
    monkeypatch.delitem(__import__("sys").modules, "mlflow", raising=False)
    assert "pip install -e .[tracking]" in mlflow_missing()
    with pytest.raises(ConfigError, match=r"tracking=mlflow needs mlflow .*pip install -e \.\[tracking\]"):
        start_run(TrackingConfig(backend="mlflow"), tmp_path, "x", "run", {}, {})
    assert not (tmp_path / "mlflow.db").exists()


def test_an_unusable_tracking_uri_is_one_error_naming_it(tmp_path):
    pytest.importorskip("mlflow", reason="tracking=mlflow needs MLflow: pip install -e .[tracking] (part of .[dev])")
    uri = "nosuchstore://host/path"  # fails at once (a file that is not a database also fails, after MLflow's ~25 s of retries)
    with pytest.raises(ConfigError, match=f"tracking.uri={uri}: MLflow cannot open .*fix the URI or use tracking=none"):
        start_run(TrackingConfig(backend="mlflow", uri=uri), tmp_path, "x", "run", {}, {})
