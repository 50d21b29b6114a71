"""``tracking=none|mlflow`` (conf/tracking/): where pretraining runs and fine-tuning jobs are also recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from workbench.config.choices import check_choice

TRACKING_BACKENDS = ("none", "mlflow")


@dataclass
class TrackingConfig:
    backend: str = "none"  # none | mlflow
    # null: a local store inside the stage's output folder, <paths.runs>/mlflow.db for train and <paths.evals>/mlflow.db
    # for eval (artifacts beside it in mlartifacts/); any MLflow tracking URI otherwise (http://host:5000, sqlite:///x.db)
    uri: Optional[str] = None
    experiment: Optional[str] = None  # null: workbench-train for train, workbench-eval for eval
    log_models: bool = True  # copy the model folders (runs/<run>/model, transformers/) as artifacts of the run

    def __post_init__(self) -> None:
        check_choice("tracking.backend", self.backend, TRACKING_BACKENDS)

    @property
    def enabled(self) -> bool:
        return self.backend != "none"
