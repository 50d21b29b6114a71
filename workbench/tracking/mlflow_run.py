"""One MLflow run (a pretraining run or a fine-tuning job) through ``MlflowClient``: no global MLflow state.

``start_run`` opens the run in ``tracking.uri`` (by default a SQLite store in the stage's output folder, artifacts
beside it) under ``tracking.experiment``; with ``resume_tag`` set, an unfinished run carrying the same tag value
is taken up again (a resumed pretraining run stays one MLflow run; a run started afresh is a new one). MLflow is an optional dependency
(``pip install -e .[tracking]``): without it ``tracking=mlflow`` stops at once with that command.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from workbench.config.choices import ConfigError
from workbench.tracking.config import TrackingConfig

log = logging.getLogger(__name__)

STORE_FILE = "mlflow.db"  # the default local store, in paths.runs (train) or paths.evals (eval)
ARTIFACTS_DIR = "mlartifacts"  # its artifacts, beside it
TRAIN_EXPERIMENT, EVAL_EXPERIMENT = "workbench-train", "workbench-eval"  # tracking.experiment=null
RUN_TAG = "workbench.folder"  # the run folder or job folder an MLflow run records
_BATCH = 100  # MLflow accepts at most 100 params and 1000 metrics per log_batch request


def mlflow_missing(uri: Optional[str] = None) -> Optional[str]:
    """Why MLflow cannot be used with ``uri`` (None when it can); a SQLite store (the default) needs sqlalchemy and
    alembic, which mlflow-skinny does not require."""
    modules = ["mlflow"] + (["sqlalchemy", "alembic"] if uri is None or uri.startswith("sqlite:") else [])
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            return (f"tracking=mlflow needs {module} ({error}): pip install -e .[tracking] (mlflow-skinny, sqlalchemy,"
                    " alembic), or tracking=none")
    return None


def store_uri(tracking: TrackingConfig, default_dir: Path) -> str:
    return tracking.uri or f"sqlite:///{Path(default_dir).resolve() / STORE_FILE}"


class MlflowRun:
    """Metrics (``<split>/<key>`` per step), artifacts and the end status of one MLflow run."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def log(self, step: int, split: str, metrics: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(f"{split}/{key}", float(value), now, int(step)) for key, value in metrics.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)]
        for start in range(0, len(rows), _BATCH):
            self.client.log_batch(self.run_id, metrics=rows[start:start + _BATCH])

    def log_artifact(self, path: Path, artifact_path: Optional[str] = None) -> None:
        """A file, or a folder with everything in it, copied into the run's artifacts (under ``artifact_path``)."""
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        elif path.is_file():
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: str = "FINISHED") -> None:
        """``FINISHED``, ``FAILED`` or ``KILLED`` (stopped early: a later resume takes the run up again)."""
        self.client.set_terminated(self.run_id, status=status)


def open_experiment(tracking: TrackingConfig, default_dir: Path, default_experiment: str) -> Tuple[Any, str]:
    """The client and experiment id (the experiment is created when missing); one ``ConfigError`` naming the URI and
    the fix when MLflow is missing or cannot open it. The stages call it before any work, so a typo costs nothing."""
    missing = mlflow_missing(tracking.uri)
    if missing is not None:
        raise ConfigError(missing)
    from mlflow.tracking import MlflowClient

    uri = store_uri(tracking, default_dir)
    if tracking.uri is None:
        Path(default_dir).mkdir(parents=True, exist_ok=True)
    name = tracking.experiment or default_experiment
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            location = None if tracking.uri else (Path(default_dir).resolve() / ARTIFACTS_DIR).as_uri()
            return client, client.create_experiment(name, artifact_location=location)
        return client, experiment.experiment_id
    except Exception as error:  # an unreachable server, a database that is not MLflow's: one line, with the fix
        raise ConfigError(f"tracking.uri={uri}: MLflow cannot open experiment {name!r} ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''}); fix the URI or use tracking=none") from None


def start_run(tracking: TrackingConfig, default_dir: Path, default_experiment: str, run_name: str,
              params: Mapping[str, str], tags: Mapping[str, str], resume_tag: Optional[str] = None,
              resume: bool = True) -> MlflowRun:
    """``resume_tag``: the folder the run records (tag ``workbench.folder``); with ``resume``, the newest unfinished
    MLflow run of that folder is taken up again instead of a new one."""
    client, experiment_id = open_experiment(tracking, default_dir, default_experiment)
    from mlflow.entities import Param

    uri, name = store_uri(tracking, default_dir), tracking.experiment or default_experiment
    all_tags = dict(tags)
    if resume_tag is not None:
        all_tags[RUN_TAG] = resume_tag
        previous = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{_quoted(resume_tag)}'",
                                      order_by=["attributes.start_time DESC"], max_results=1)
        if resume and previous and previous[0].info.status != "FINISHED":
            run_id = previous[0].info.run_id
            client.update_run(run_id, status="RUNNING")
            log.info("tracking: resuming MLflow run %s (%s) in %s", run_id, run_name, uri)
            return MlflowRun(client, run_id)
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    entries: List[Any] = [Param(key, value) for key, value in params.items()]
    for start in range(0, len(entries), _BATCH):
        client.log_batch(run.info.run_id, params=entries[start:start + _BATCH])
    log.info("tracking: MLflow run %s (%s), experiment %s, in %s", run.info.run_id, run_name, name, uri)
    return MlflowRun(client, run.info.run_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def run_tags(kind: str, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Tags every workbench run carries: its kind (``pretraining``, ``finetuning``) and the code version."""
    from workbench.artifacts.provenance import code_version

    version = code_version()
    tags = {"workbench.kind": kind, "workbench.version": str(version.get("workbench", "unknown"))}
    if "git_commit" in version:
        tags["mlflow.source.git.commit"] = str(version["git_commit"])
    tags.update(extra or {})
    return tags
