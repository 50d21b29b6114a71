"""Stage ``train``: pretrain an encoder into ``runs/<run_name>/`` (resumes an interrupted run).

A finished run holds ``model/`` (the workbench model folder) and ``transformers/`` (the same weights in the
family's transformers masked-LM class, when transformers is installed). A job of a Hydra multirun then
rewrites its sweep's ``summary.md``/``summary.csv``. The returned ``TrainResult`` converts to the
validation loss with ``float()``: the objective Hydra's Optuna sweeper minimizes.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from workbench.artifacts.atomic import write_text
from workbench.artifacts.layout import run_dir, shards_dir, tokenizer_dir
from workbench.artifacts.locking import folder_lock
from workbench.artifacts.model_folder import MANIFEST_FILE, is_model_folder
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import require
from workbench.corpus.identity import tokenizer_mismatch
from workbench.corpus.shards import ShardSet
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training import distributed
from workbench.training.export import export_run
from workbench.training.init_from import plan_init_from
from workbench.training.loop import TrainResult, pretrain
from workbench.training.metrics_log import read_metrics
from workbench.training.sweep_summary import sweep_dir_of, write_summary
from workbench.tracking.mlflow_run import TRAIN_EXPERIMENT, MlflowRun, run_tags, start_run
from workbench.tracking.params import flatten_params

log = logging.getLogger(__name__)


def _finished(out) -> TrainResult:
    """The result of a run finished earlier (its manifest and metrics), e.g. a sweep job run again."""
    manifest = json.loads((out / "model" / MANIFEST_FILE).read_text(encoding="utf-8"))
    losses = [row["loss"] for row in read_metrics(out, "train") if row.get("loss") is not None]
    return TrainResult(out, steps=int(manifest["steps"]), losses=losses, validation=dict(manifest["validation"]))


def _finish(cfg: WorkbenchConfig, result: TrainResult, replace_export: bool) -> TrainResult:
    if cfg.trainer.export_transformers and not result.stopped_early:
        export_run(result.run_dir, replace=replace_export, card=cfg.model_card)
    sweep = sweep_dir_of(result.run_dir)
    if sweep is not None:
        log.info("sweep summary: %s", write_summary(sweep))
    return result


def _start_tracking(cfg: WorkbenchConfig, out: Path) -> Optional[MlflowRun]:
    """``tracking=mlflow``: the run's MLflow run (taken up again when the run resumes), params from the config."""
    if not cfg.tracking.enabled:
        return None
    name = cfg.run_name if out.name == cfg.run_name else f"{cfg.run_name}/{out.name}"  # a multirun job: its folder
    resumes = any((out / "checkpoints").glob("step-*"))  # else training starts at step 0: a new MLflow run
    return start_run(cfg.tracking, Path(cfg.paths.runs), TRAIN_EXPERIMENT, name, flatten_params(cfg),
                     run_tags("pretraining", {"workbench.run_name": cfg.run_name}), resume_tag=str(out.resolve()),
                     resume=resumes)


def _track_artifacts(tracked: MlflowRun, cfg: WorkbenchConfig, result: TrainResult) -> None:
    """The config, the metrics and the model's manifest (steps, validation, provenance) and the model folders."""
    out = result.run_dir
    for name in ("config.yaml", "metrics.jsonl"):
        tracked.log_artifact(out / name)
    if result.stopped_early:  # resumable: the run is taken up again by the next train with this run_name
        tracked.end("KILLED")
        return
    tracked.log_artifact(out / "model" / MANIFEST_FILE)
    if cfg.tracking.log_models:
        tracked.log_artifact(out / "model", "model")
        tracked.log_artifact(out / "transformers", "transformers")
    tracked.end("FINISHED")


@contextlib.contextmanager
def _failed_on_error(tracked: Optional[MlflowRun]):
    """An exception (a ctrl-C too) ends the MLflow run as FAILED before it propagates."""
    try:
        yield
    except BaseException:
        if tracked is not None:
            tracked.end("FAILED")
        raise


def check_sequence_length(cfg: WorkbenchConfig) -> None:
    """Shard sequences must fit the model's position table: fail before anything is built."""
    if cfg.packing.max_seq_len > cfg.model.max_positions:
        raise ConfigError(
            f"packing.max_seq_len={cfg.packing.max_seq_len} exceeds model.max_positions={cfg.model.max_positions}"
            f" ({cfg.model.family}_{cfg.model.size}): set packing.max_seq_len<={cfg.model.max_positions}"
            f" or model.max_positions={cfg.packing.max_seq_len}"
        )


def train(cfg: WorkbenchConfig) -> TrainResult:
    # with init_from the architecture comes from the folder: +model is optional (and checked against it)
    require(cfg, ["tokenizer", "corpus"] if cfg.init_from else ["model", "tokenizer", "corpus"], "train")
    out = run_dir(cfg)
    if is_model_folder(out / "model"):
        log.info("run %s is finished (model/ exists): nothing to do; choose another run_name to train again", out)
        return _finish(cfg, _finished(out), replace_export=False)
    init = None
    if cfg.init_from:  # continued pretraining: the folder's weights, architecture and tokenizer (not resume)
        plan = plan_init_from(cfg)
        cfg, init = plan.cfg, plan.source
    check_sequence_length(cfg)
    tokenizer = Tokenizer.load(tokenizer_dir(cfg))
    if cfg.init_from and not (shards_dir(cfg) / "manifest.json").exists():
        raise ConfigError(
            f"{shards_dir(cfg)} does not exist: tokenize the corpus with init_from's tokenizer first:"
            f" python -m workbench prepare corpus={cfg.corpus.name if cfg.corpus else '<name>'} init_from={cfg.init_from}"
            f"{f' init_from_extend_vocab={cfg.init_from_extend_vocab}' if cfg.init_from_extend_vocab else ''}"
            f" packing.max_seq_len={cfg.packing.max_seq_len}"
        )
    shards = ShardSet.open(shards_dir(cfg))
    problem = tokenizer_mismatch(shards, tokenizer)
    if problem is not None:
        raise ConfigError(
            f"{problem}. Re-run prepare with this tokenizer (delete {shards.folder}, then python -m workbench prepare"
            " with the same tokenizer= and corpus=), or train with the tokenizer the shards were made with"
        )
    runtime = distributed.setup(cfg.hardware)
    tracked: Optional[MlflowRun] = None
    with contextlib.ExitStack() as lock:
        try:
            if runtime.is_main:  # one process per run folder; the ranks of one run are one job: rank 0 holds it
                lock.enter_context(folder_lock(out, "train"))
                write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.structured(cfg)))
                tracked = _start_tracking(cfg, out)
            with _failed_on_error(tracked):
                result = pretrain(cfg, tokenizer, shards, out, runtime, init=init, sinks=[tracked] if tracked else [])
        finally:
            distributed.teardown(runtime)
        if not runtime.is_main:
            return result
        with _failed_on_error(tracked):
            result = _finish(cfg, result, replace_export=True)
            if tracked is not None:
                _track_artifacts(tracked, cfg, result)
        return result

run = train
