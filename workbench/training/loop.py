"""The pretraining loop: gradient accumulation to the recipe's global batch, exact resume, live metrics.

One optimizer step consumes ``global_batch_size`` sequences: ``accumulation`` micro-batches on each
of ``world_size`` processes (``train_step.pretraining_step``: the same loss and update for 1 or N processes).
``pretrain`` composes the components: a ``TrainState`` (state.py), the train step, a ``Checkpointer``
(checkpointer.py), a ``StepMeter`` (meter.py) and a ``Validator`` (validator.py).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from tqdm.auto import tqdm

from workbench.artifacts.model_folder import save_model_folder
from workbench.artifacts.provenance import provenance
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.corpus.loader import BatchLoader, language_probs
from workbench.corpus.shards import ShardSet
from workbench.hardware.precision import PrecisionError, PrecisionPolicy, resolve_precision
from workbench.model.config import EncoderConfig
from workbench.model.kernels.choice import select_kernels
from workbench.model.pretraining import PretrainingModel
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.batches import MaskedBatch, mask_batch
from workbench.training.checkpointer import Checkpointer
from workbench.training.distributed import Runtime
from workbench.training.flops import forward_shape, step_flops
from workbench.training.init_from import InitSource, load_initial_weights
from workbench.training.meter import StepMeter
from workbench.training.metrics_log import MetricSink, MetricsLogger
from workbench.training.optimizer import build_optimizer
from workbench.training.out_of_memory import out_of_memory_advice
from workbench.training.schedule import build_scheduler
from workbench.training.state import TrainState
from workbench.training.strategy import strategy_for
from workbench.training.train_step import BadSteps, pretraining_step
from workbench.training.validator import Validator, validation_batches

log = logging.getLogger(__name__)


class TrainingError(ValueError):
    """Training cannot continue (non-finite losses, impossible batch settings)."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    losses: List[float] = field(default_factory=list)  # training loss per logged step
    validation: Dict[str, float] = field(default_factory=dict)  # last validation metrics
    stopped_early: bool = False  # interrupted by a signal (checkpoint written)

    @property
    def objective(self) -> float:
        """What a sweeper minimizes: the last validation loss (the last training loss without validation)."""
        if "loss" in self.validation:
            return float(self.validation["loss"])
        return self.losses[-1] if self.losses else math.nan

    def __float__(self) -> float:  # Hydra's Optuna sweeper reads a job's objective as float(return value)
        return self.objective


def resolve_encoder_config(model: EncoderConfig, tokenizer: Tokenizer) -> EncoderConfig:
    """Fill the vocabulary size and padding id from the tokenizer; reject a vocabulary that does not fit."""
    vocab_size = model.vocab_size if model.vocab_size is not None else tokenizer.vocab_size
    if vocab_size < tokenizer.vocab_size:
        raise ConfigError(
            f"model.vocab_size={vocab_size} is smaller than the tokenizer's {tokenizer.vocab_size} entries;"
            " set model.vocab_size=null to take the tokenizer's size"
        )
    return dataclasses.replace(model, vocab_size=vocab_size, pad_token_id=tokenizer.pad_id)


def accumulation_steps(global_batch: int, micro_batch: int, world_size: int) -> int:
    per_step = micro_batch * world_size
    if global_batch % per_step:
        raise ConfigError(
            f"trainer.global_batch_size={global_batch} is not a multiple of micro_batch_size x processes"
            f" = {micro_batch} x {world_size}; change trainer.micro_batch_size"
        )
    return global_batch // per_step


class _StopFlag:
    """SIGTERM/SIGINT ask for a checkpoint at the end of the current step, then a clean exit."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {}

    def __enter__(self) -> "_StopFlag":
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def pretrain(cfg: WorkbenchConfig, tokenizer: Tokenizer, shards: ShardSet, run_dir: Path, runtime: Runtime,
             init: Optional[InitSource] = None, sinks: Sequence[MetricSink] = ()) -> TrainResult:
    """Train ``cfg.model`` on ``shards``; ``init``: the weights to start from (``init_from``; a checkpoint of the run
    itself still takes precedence: that is resume), with a fresh optimizer, schedule and data position;
    ``sinks``: extra metric sinks (experiment tracking)."""
    # hardware.precision=auto resolved once (logged, and recorded in the run's config and manifest)
    cfg = dataclasses.replace(cfg, hardware=resolve_precision(cfg.hardware, announce=runtime.is_main))
    trainer, hardware = cfg.trainer, cfg.hardware
    assert cfg.model is not None
    policy = _precision_policy(hardware.precision, runtime)
    encoder_config = resolve_encoder_config(cfg.model, tokenizer)
    accumulation = accumulation_steps(trainer.global_batch_size, trainer.micro_batch_size, runtime.world_size)
    if trainer.objective.nsp and "nsp" not in shards.manifest.get("extras", ["nsp"]):
        raise ConfigError("trainer.objective.nsp=true needs shards prepared with packing.mode=sentence_pairs")

    torch.manual_seed(cfg.seed)
    kernels = select_kernels(runtime.device.type, compiled=trainer.compile)  # the model's kernels, once
    model = PretrainingModel(encoder_config, nsp=trainer.objective.nsp, kernels=kernels).to(runtime.device)
    strategy = strategy_for(hardware, runtime, encoder_config.layerdrop)
    checkpoints_dir = run_dir / "checkpoints"
    checkpointer = Checkpointer(checkpoints_dir, trainer.checkpoint_every, trainer.keep_last, strategy, runtime)
    resumed = checkpointer.latest(restart=trainer.restart)
    if resumed is not None:
        model.load_state_dict(resumed.model_state)  # full weights, before DDP/FSDP take the model over
    elif init is not None:
        fresh = load_initial_weights(model, init.state_dict, init.path)
        if runtime.is_main:
            log.info("initialised from %s (%s, weights sha256 %s); optimizer and schedule start fresh%s", init.path,
                     init.kind, init.weights_sha256[:16], f"; not in the folder, initialised: {fresh}" if fresh else "")
    train_model = strategy.wrap(model)  # FSDP shards `model` itself; DDP wraps it
    optimizer = build_optimizer(model, trainer.optimizer)
    state = TrainState(
        model, optimizer, build_scheduler(optimizer, trainer.scheduler, trainer.max_steps), policy.grad_scaler(),
        BatchLoader(
            shards.split("train"), trainer.micro_batch_size, seed=cfg.seed, rank=runtime.rank,
            world_size=runtime.world_size, pad_id=tokenizer.pad_id,
            language_probs=language_probs(shards),  # XLM-style smoothed language sampling (None: one language)
        ),
        data_identity=f"{shards.folder.name}:{shards.manifest.get('config_hash')}",
        bad_steps=BadSteps(limit=trainer.max_bad_steps),
    )
    if resumed is not None:
        other_data = state.restore(resumed, strategy)
        if other_data is not None and runtime.is_main:
            log.info("resuming on other shards (%s, was %s): reading them from their first batch", state.data_identity, other_data)
        if runtime.is_main:
            log.info("resumed from %s (step %d)", resumed.path, state.step)
    if trainer.compile:
        train_model = torch.compile(train_model, dynamic=True)  # packed batches vary in length

    samples_per_epoch = len(shards.split("train"))

    def masked(batch) -> MaskedBatch:
        # each row's epoch from its own stream position: a batch that straddles an epoch boundary masks its rows
        # as any other split into micro-batches and processes would
        return mask_batch(batch, tokenizer, trainer.objective, seed=cfg.seed, samples_per_epoch=samples_per_epoch)

    validator = Validator(
        validation_batches(shards, tokenizer, trainer.objective, trainer.micro_batch_size, trainer.eval_batches,
                           cfg.seed, runtime, strategy.sharded) if trainer.eval_every > 0 else [],
        trainer.eval_every, runtime, policy,
    )
    stop_at = trainer.stop_at_step if trainer.stop_at_step is not None else trainer.max_steps
    logger = MetricsLogger(run_dir, enabled=runtime.is_main, resume_step=state.step, sinks=sinks)  # sinks: tracking=mlflow
    result = TrainResult(run_dir, state.step)
    batches = iter(state.loader)
    progress = tqdm(total=trainer.max_steps, initial=state.step, desc="pretrain", unit="step", disable=not runtime.is_main,
                    dynamic_ncols=True, mininterval=1.0)  # redrawn at most once a second: fast steps do not pay for it
    model.train()
    meter = StepMeter(hardware.peak_for() * 1e12 * runtime.world_size, trainer.log_every)
    try:
        with _StopFlag() as stop:
            while state.step < stop_at:
                started = time.perf_counter()
                micro = [masked(next(batches)) for _ in range(accumulation)]
                data_seconds = time.perf_counter() - started  # reading, collating and masking the step's batches
                logging_step = meter.due(state.step + 1, stop_at)
                out = pretraining_step(state, train_model, micro, strategy, runtime, policy, trainer.grad_clip,
                                       measure_norm=logging_step, stop_requested=stop.requested)
                if not out.applied:
                    log.warning("step %d: non-finite loss (%s); update skipped (%d in a row)", state.step + 1, out.loss,
                                state.bad_steps.count)
                    if state.bad_steps.exhausted:
                        raise TrainingError(
                            f"{state.bad_steps.count} non-finite losses in a row at step {state.step + 1}; stopped."
                            f" The last good checkpoint in {checkpoints_dir} is intact. Lower trainer.optimizer.lr"
                            " or use hardware.precision=bf16/fp32"
                        )
                    continue
                step = state.step
                tokens = sum(int(b.attention_mask.sum()) for b in micro)
                state.tokens_seen += tokens * runtime.world_size
                # the products this process executed (other processes' batches are alike), see workbench.training.flops
                meter.lap(tokens * runtime.world_size, sum(step_flops(encoder_config, forward_shape(model, b.labels, b.attention_mask))
                                                           for b in micro) * runtime.world_size, data_seconds)
                if logging_step:
                    rates = meter.rates()
                    metrics = {"loss": out.loss, "mlm_accuracy": out.correct / out.masked, "grad_norm": float(out.grad_norm),
                               "lr": out.lr, "tokens_per_second": rates["tokens_per_second"], "mfu": rates["mfu"],
                               "data_fraction": rates["data_fraction"]}
                    logger.log(step, "train", metrics)
                    result.losses.append(out.loss)
                    progress.set_postfix(  # drawn by the next update(), at most once a second
                        loss=f"{out.loss:.3f}", lr=f"{out.lr:.2e}", tok_s=f"{rates['tokens_per_second']:,.0f}", refresh=False
                    )
                progress.update(1)

                if validator.due(step, stop_at):
                    result.validation = validator(model)
                    logger.log(step, "valid", result.validation)
                if checkpointer.due(step, stop_at):
                    checkpointer.save(state)
                if out.stop_requested:
                    checkpointer.save(state)
                    result.stopped_early = True
                    if runtime.is_main:
                        log.warning("stop requested: checkpoint written at step %d; rerun the same command to resume", step)
                    break
    except torch.OutOfMemoryError as error:  # nothing is half-written: checkpoints are atomic, model/ comes last
        raise TrainingError(out_of_memory_advice(trainer, hardware, runtime.world_size, f"in step {state.step + 1}", error)) from error
    finally:
        progress.close()
        logger.close()
    result.steps = step = state.step
    if step < trainer.max_steps and not result.stopped_early:  # trainer.stop_at_step reached
        result.stopped_early = True
        if runtime.is_main:
            log.info("stopped at trainer.stop_at_step=%d (checkpoint written); rerun with the same run_name to go on", step)
    if not result.stopped_early:
        weights = strategy.model_state(model)  # collective under FSDP
        if runtime.is_main:
            save_model_folder(
                run_dir / "model", weights, encoder_config, tokenizer.directory,
                provenance(cfg, steps=step, validation=result.validation, corpus=_corpus_record(shards, state.tokens_seen),
                           **({"init_from": init.record()} if init is not None else {})),
            )
    return result


def _precision_policy(precision: str, runtime: Runtime) -> PrecisionPolicy:
    try:
        return PrecisionPolicy(precision, runtime.device.type)
    except PrecisionError as error:
        raise ConfigError(str(error)) from None


def _corpus_record(shards, tokens_seen: int) -> dict:
    """What the model card states about the pretraining data: the shard set, its training tokens, the tokens seen."""
    train = (shards.manifest.get("splits") or {}).get("train") or {}
    record = {"shards": str(shards.folder), "tokens_seen": int(tokens_seen)}
    if "tokens" in train:
        record["train_tokens"] = int(train["tokens"])
    return record
