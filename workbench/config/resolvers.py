"""OmegaConf resolvers of the YAML configs, registered explicitly by ``register_configs`` (no import side effect).

``wb_eval_job``: the folder name of one eval multirun job, ``<model>_<task>_seed<k>[_<other overrides>]``, where
``<model>`` is the model folder's name (the run's name for ``runs/<run>/model``), so a model path never nests
folders into the job's name (``conf/eval.yaml``, ``hydra.sweep.subdir``).

``path_name``: ``${path_name:run_name,${run_name}}`` is the value, refused unless it is one path component
(``check_path_name``). Hydra makes its output folder (``train``'s ``hydra.run.dir``: ``runs/<run_name>``) before
the stage runs, so the name is checked while that path resolves (``conf/train.yaml``).
"""

from __future__ import annotations

import sys
from pathlib import PurePath
from typing import Any

from omegaconf import OmegaConf

from workbench.config.choices import ConfigError, check_path_name


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


def output_folder_name(key: str, value: str) -> str:
    """``check_path_name`` for the folder Hydra makes before the stage runs: a refused name ends the command with
    the CLI's one-line error (exit status 2), which Hydra, resolving its own config, cannot print."""
    try:
        return check_path_name(key, value)
    except ConfigError as error:
        print(f"{sys.argv[0]}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("wb_eval_job", eval_job_name, replace=True)
    OmegaConf.register_new_resolver("path_name", output_folder_name, replace=True)
