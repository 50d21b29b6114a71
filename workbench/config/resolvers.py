"""OmegaConf resolvers of the YAML configs, registered explicitly by ``register_configs`` (no import side effect).

``wb_eval_job``: the folder name of one eval multirun job, ``<model>_<task>_seed<k>[_<other overrides>]``, where
``<model>`` is the model folder's name (the run's name for ``runs/<run>/model``), so a model path never nests
folders into the job's name (``conf/eval.yaml``, ``hydra.sweep.subdir``).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from omegaconf import OmegaConf


def model_label(model: Any) -> str:
    """``runs/quickstart/model`` -> ``quickstart``; ``/models/camembert-base/`` -> ``camembert-base``."""
    if not model:
        return "model"
    path = PurePath(str(model).rstrip("/\\"))
    return path.parent.name if path.name == "model" and path.parent.name else path.name or "model"


def eval_job_name(model: Any, task: Any, seed: Any, other_overrides: Any) -> str:
    name = f"{model_label(model)}_{task or 'tasks'}_seed{seed}"
    if other_overrides:
        name += "_" + str(other_overrides).replace("/", "-").replace("\\", "-")
    return name


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("wb_eval_job", eval_job_name, replace=True)
