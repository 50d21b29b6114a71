"""Stage ``train``: pretrain an encoder into ``runs/<run_name>/`` (resumes an interrupted run).

A finished run holds ``model/`` (the workbench model folder) and ``transformers/`` (the same weights in the
family's transformers masked-LM class, when transformers is installed). A job of a Hydra multirun then
rewrites its sweep's ``summary.md``/``summary.csv``. The returned ``TrainResult`` converts to the
validation loss with ``float()``: the objective Hydra's Optuna sweeper minimizes.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Dict, Optional

from omegaconf import OmegaConf

from workbench.artifacts.atomic import write_text
from workbench.artifacts.layout import run_dir, shards_dir, tokenizer_dir
from workbench.artifacts.locking import folder_lock
from workbench.artifacts.manifest import Manifest
from workbench.artifacts.model_folder import MANIFEST_FILE
from workbench.artifacts.provenance import config_hash
from workbench.artifacts.reuse import Decision, Reuse, as_json, config_differences, reuse_decision
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


# what a finished run's weights depend on: the WorkbenchConfig sections compared before reusing runs/<run>/model
# (not paths, run_dir, hardware: where and how it ran; nor the later stages' sections), and in `trainer` all but
# the keys that only say how often to log or checkpoint, where to stop or what to export
TRAINING_SECTIONS = ("seed", "tokenizer", "corpus", "packing", "model", "init_from", "init_from_extend_vocab", "trainer")
TRAINER_RUNTIME_KEYS = ("log_every", "checkpoint_every", "keep_last", "stop_at_step", "restart", "export_transformers")


def training_identity(config: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a resolved config (as a manifest records it) a run's weights depend on."""
    identity = {key: config[key] for key in TRAINING_SECTIONS if key in config}
    if isinstance(identity.get("trainer"), dict):
        identity["trainer"] = {k: v for k, v in identity["trainer"].items() if k not in TRAINER_RUNTIME_KEYS}
    return identity


def _filled(recorded: Any, current: Any) -> Any:
    """``recorded`` with the keys it lacks taken from ``current``: a key the run's workbench did not have yet
    is not compared (every key added since kept the behaviour of the runs before it)."""
    if not isinstance(recorded, dict) or not isinstance(current, dict):
        return recorded
    out = {key: _filled(value, current.get(key)) for key, value in recorded.items()}
    out.update({key: value for key, value in current.items() if key not in recorded})
    return out


def run_decision(cfg: WorkbenchConfig, out: Path) -> Decision:
    """Whether ``out/model`` is a finished run of this config (``workbench.artifacts.reuse``)."""
    current = training_identity(as_json(cfg))
    recorded = lambda manifest: _filled(training_identity(manifest.require("config", dict)), current)  # noqa: E731
    return reuse_decision(out / "model", config_hash(current), lambda manifest: config_hash(recorded(manifest)),
                          lambda manifest: config_differences(recorded(manifest), current, ""))


def _finished(out: Path, manifest: Manifest) -> TrainResult:
    """The result of a run finished earlier (its manifest and metrics), e.g. a sweep job run again."""
    losses = [row["loss"] for row in read_metrics(out, "train") if row.get("loss") is not None]
    return TrainResult(out, steps=manifest.require("steps", int), losses=losses, validation=dict(manifest.require("validation", dict)))


def _reuse_or_refuse(cfg: WorkbenchConfig, out: Path) -> Optional[TrainResult]:
    """A finished run of this config (its result), None when there is none to reuse (train or resume it); a finished
    run of another config is refused: it is never overwritten."""
    decision = run_decision(cfg, out)
    if isinstance(decision, Reuse):
        log.info("run %s is finished with this config (model/ exists, config hash %s): nothing to do; choose another"
                 " run_name to train again", out, decision.config_hash)
        return _finished(out, decision.manifest)
    if decision.conflicts:
        raise ConfigError(
            f"{out} holds a finished run trained with another config ({'; '.join(decision.differences)});"
            f" choose another run_name (e.g. run_name={cfg.run_name}-v2) to train this one, or delete {out} to train it again"
        )
    log.info("run %s: training (%s)", out, decision.reason)
    return None


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
    init = None
    if cfg.init_from:  # continued pretraining: the folder's weights, architecture and tokenizer (not resume)
        plan = plan_init_from(cfg)  # first: the run's model and tokenizer config come from the folder
        cfg, init = plan.cfg, plan.source
    finished = _reuse_or_refuse(cfg, out)
    if finished is not None:
        return _finish(cfg, finished, replace_export=False)
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
