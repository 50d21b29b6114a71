"""The pretraining loop: gradient accumulation to the recipe's global batch, exact resume, live metrics.

One optimizer step consumes ``global_batch_size`` sequences: ``accumulation`` micro-batches on each
of ``world_size`` processes. The MLM loss is the sum over masked tokens divided by the number of
masked tokens in the whole global batch, so 1 process and N processes give the same loss and the
same update for the same global batch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from contextlib import nullcontext
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
from workbench.hardware.precision import resolve_precision
from workbench.model.config import EncoderConfig
from workbench.model.kernels.choice import select_kernels
from workbench.model.pretraining import PretrainingModel
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training import checkpoint as ckpt
from workbench.training.batches import MaskedBatch, mask_batch
from workbench.training.distributed import Runtime, all_reduce_min, all_reduce_sum
from workbench.training.flops import forward_shape, step_flops
from workbench.training.init_from import InitSource, load_initial_weights
from workbench.training.metrics_log import MetricSink, MetricsLogger
from workbench.training.optim import build_optimizer, build_scheduler
from workbench.training.out_of_memory import out_of_memory_advice
from workbench.training.strategy import strategy_for

log = logging.getLogger(__name__)

VALIDATION_EPOCH = 1_000_003  # masking seed stream of validation batches, distinct from training epochs


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


def _autocast(runtime: Runtime, precision: str):
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=runtime.device.type, dtype=dtype)


def _forward(model, batch: MaskedBatch, runtime: Runtime, precision: str):
    batch = batch.to(runtime.device)
    with _autocast(runtime, precision):
        return model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            labels=batch.labels,
            token_type_ids=batch.token_type_ids,
            nsp_labels=batch.nsp_labels,
            langs=batch.langs,
        )


@torch.no_grad()
def validate(model, batches: List[MaskedBatch], runtime: Runtime, precision: str) -> Dict[str, float]:
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=runtime.device)  # loss sum, correct, count: one transfer at the end
    for batch in batches:
        out = _forward(model, batch, runtime, precision)
        count = out.mlm_count.double()
        sums += torch.stack([out.mlm_loss.detach().double() * count, out.mlm_correct.double(), count])
    model.train(was_training)
    totals = all_reduce_sum(sums.cpu(), runtime)
    loss = float(totals[0] / totals[2].clamp(min=1))
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "mlm_accuracy": float(totals[1] / totals[2].clamp(min=1))}


def pretrain(cfg: WorkbenchConfig, tokenizer: Tokenizer, shards: ShardSet, run_dir: Path, runtime: Runtime,
             init: Optional[InitSource] = None, sinks: Sequence[MetricSink] = ()) -> TrainResult:
    """Train ``cfg.model`` on ``shards``; ``init``: the weights to start from (``init_from``; a checkpoint of the run
    itself still takes precedence: that is resume), with a fresh optimizer, schedule and data position;
    ``sinks``: extra metric sinks (experiment tracking)."""
    # hardware.precision=auto resolved once (logged, and recorded in the run's config and manifest)
    cfg = dataclasses.replace(cfg, hardware=resolve_precision(cfg.hardware, announce=runtime.is_main))
    trainer, hardware = cfg.trainer, cfg.hardware
    assert cfg.model is not None
    encoder_config = resolve_encoder_config(cfg.model, tokenizer)
    accumulation = accumulation_steps(trainer.global_batch_size, trainer.micro_batch_size, runtime.world_size)
    if trainer.objective.nsp and "nsp" not in shards.manifest.get("extras", ["nsp"]):
        raise ConfigError("trainer.objective.nsp=true needs shards prepared with packing.mode=sentence_pairs")

    torch.manual_seed(cfg.seed)
    kernels = select_kernels(runtime.device.type, compiled=trainer.compile)  # the model's kernels, once
    model = PretrainingModel(encoder_config, nsp=trainer.objective.nsp, kernels=kernels).to(runtime.device)
    strategy = strategy_for(hardware, runtime, encoder_config.layerdrop)
    checkpoints_dir = run_dir / "checkpoints"
    resumed = ckpt.load_latest(checkpoints_dir, restart=trainer.restart)
    if resumed is None and trainer.restart and runtime.is_main:
        ckpt.discard_checkpoints(checkpoints_dir)  # only damaged ones exist: a loadable checkpoint is always resumed
    if resumed is not None:
        model.load_state_dict(resumed.model_state)  # full weights, before DDP/FSDP take the model over
    elif init is not None:
        fresh = load_initial_weights(model, init.state_dict, init.path)
        if runtime.is_main:
            log.info("initialised from %s (%s, weights sha256 %s); optimizer and schedule start fresh%s", init.path,
                     init.kind, init.weights_sha256[:16], f"; not in the folder, initialised: {fresh}" if fresh else "")
    train_model = strategy.wrap(model)  # FSDP shards `model` itself; DDP wraps it
    optimizer = build_optimizer(model, trainer.optimizer)
    scheduler = build_scheduler(optimizer, trainer.scheduler, trainer.max_steps)
    scaler = torch.amp.GradScaler(runtime.device.type, enabled=hardware.precision == "fp16")
    loader = BatchLoader(
        shards.split("train"), trainer.micro_batch_size, seed=cfg.seed, rank=runtime.rank,
        world_size=runtime.world_size, pad_id=tokenizer.pad_id,
        language_probs=language_probs(shards),  # XLM-style smoothed language sampling (None: one language)
    )

    data_identity = f"{shards.folder.name}:{shards.manifest.get('config_hash')}"  # which shard set the loader position is in
    stop_at = trainer.stop_at_step if trainer.stop_at_step is not None else trainer.max_steps
    step = 0
    bad_steps = 0
    tokens_seen = 0  # real (non-padding) tokens of the applied steps, all processes: a checkpoint's pretraining tokens
    if resumed is not None:
        strategy.load_optimizer_state(model, optimizer, resumed.state["optimizer"])
        scheduler.load_state_dict(resumed.state["scheduler"])
        scaler.load_state_dict(resumed.state["scaler"])
        if resumed.state.get("data", data_identity) == data_identity:
            loader.load_state_dict(resumed.state["loader"])
        elif runtime.is_main:  # a new phase (e.g. BERT's 512-token phase): the new shards are read from their start
            log.info("resuming on other shards (%s, was %s): reading them from their first batch", data_identity, resumed.state["data"])
        ckpt.set_rng_state(resumed.state["rng"])
        step, bad_steps = resumed.step, int(resumed.state["bad_steps"])
        tokens_seen = int(resumed.state.get("tokens", 0))  # checkpoints written before it was recorded: from 0
        if runtime.is_main:
            log.info("resumed from %s (step %d)", resumed.path, step)

    if trainer.compile:
        train_model = torch.compile(train_model, dynamic=True)  # packed batches vary in length

    samples_per_epoch = len(shards.split("train"))

    def masked(batch) -> MaskedBatch:
        # each row's epoch from its own stream position: a batch that straddles an epoch boundary masks its rows
        # as any other split into micro-batches and processes would
        return mask_batch(batch, tokenizer, trainer.objective, seed=cfg.seed, samples_per_epoch=samples_per_epoch)

    validation_batches: List[MaskedBatch] = []
    if trainer.eval_every > 0 and len(shards.split("valid")) > 0:
        valid_loader = BatchLoader(
            shards.split("valid"), trainer.micro_batch_size, seed=cfg.seed, rank=runtime.rank,
            world_size=runtime.world_size, pad_id=tokenizer.pad_id, shuffle=False, num_epochs=1,
        )
        # eval_batches micro-batches in total over all processes: the same held-out sequences whatever the world size
        per_rank = -(-trainer.eval_batches // runtime.world_size)
        for _, batch in zip(range(per_rank), valid_loader):
            validation_batches.append(mask_batch(batch, tokenizer, trainer.objective, seed=cfg.seed, epoch=VALIDATION_EPOCH))
        if strategy.sharded:  # every process must run the same number of sharded forwards
            validation_batches = validation_batches[: all_reduce_min(len(validation_batches), runtime)]

    def state(optimizer_state: dict) -> dict:
        return {
            "optimizer": optimizer_state,
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "loader": loader.state_dict(),
            "rng": ckpt.rng_state(),
            "bad_steps": bad_steps,
            "tokens": tokens_seen,
            "data": data_identity,
        }

    def save(at_step: int) -> None:
        # full state dicts; under FSDP gathering them is a collective, so every process calls this
        weights, optimizer_state = strategy.model_state(model), strategy.optimizer_state(model, optimizer)
        if runtime.is_main:
            ckpt.save_checkpoint(checkpoints_dir, at_step, weights, state(optimizer_state), trainer.keep_last)

    logger = MetricsLogger(run_dir, enabled=runtime.is_main, resume_step=step, sinks=sinks)  # sinks: tracking=mlflow
    result = TrainResult(run_dir, step)
    batches = iter(loader)
    progress = tqdm(total=trainer.max_steps, initial=step, desc="pretrain", unit="step", disable=not runtime.is_main,
                    dynamic_ncols=True, mininterval=1.0)  # redrawn at most once a second: fast steps do not pay for it
    window_tokens, window_time, window_flops, window_data = 0, 0.0, 0.0, 0.0
    model.train()
    # Step time is wall time from one step's end to the next: logging, the progress bar and anything else the loop
    # does between steps count in tokens/s (checkpoints and validation too, in the step after them).
    clock = time.perf_counter()
    try:
        with _StopFlag() as stop:
            while step < stop_at:
                started = time.perf_counter()
                micro = [masked(next(batches)) for _ in range(accumulation)]
                data_seconds = time.perf_counter() - started  # reading, collating and masking the step's batches
                local_masked = sum(int(b.mlm_count) for b in micro)
                local_sequences = sum(b.input_ids.shape[0] for b in micro)
                counts = all_reduce_sum(torch.tensor([local_masked, local_sequences], dtype=torch.float64), runtime)
                global_masked, global_sequences = max(float(counts[0]), 1.0), float(counts[1])

                # The step's loss and correct count stay on the device until one transfer after the last micro-batch
                # (no host sync per micro-batch); float64 sums of the float32 losses, as the logged loss always was.
                loss_total = torch.zeros((), dtype=torch.float64, device=runtime.device)
                correct_total = torch.zeros((), dtype=torch.float64, device=runtime.device)
                for index, batch in enumerate(micro):
                    with strategy.accumulating(train_model, last_micro_batch=index == len(micro) - 1):
                        out = _forward(train_model, batch, runtime, hardware.precision)
                        # Sum of token losses / global masked count; DDP and FSDP average gradients over ranks.
                        loss = out.mlm_loss * (out.mlm_count / global_masked) * runtime.world_size
                        if out.nsp_loss is not None:
                            loss = loss + out.nsp_loss * (batch.input_ids.shape[0] / global_sequences) * runtime.world_size
                        scaler.scale(loss).backward()
                    loss_total += loss.detach().double() / runtime.world_size
                    correct_total += out.mlm_correct.double()
                # a stop signal counts when any process got it, so that all stop (and save) at the same step
                sums = torch.stack([loss_total, correct_total]).cpu()
                totals = all_reduce_sum(torch.cat([sums, torch.tensor([float(stop.requested)], dtype=torch.float64)]), runtime)
                loss_value, global_correct, stop_requested = float(totals[0]), float(totals[1]), bool(totals[2] > 0)

                if not math.isfinite(loss_value):
                    bad_steps += 1
                    optimizer.zero_grad(set_to_none=True)
                    log.warning("step %d: non-finite loss (%s); update skipped (%d in a row)", step + 1, loss_value, bad_steps)
                    if bad_steps >= trainer.max_bad_steps:
                        raise TrainingError(
                            f"{bad_steps} non-finite losses in a row at step {step + 1}; stopped."
                            f" The last good checkpoint in {checkpoints_dir} is intact. Lower trainer.optimizer.lr"
                            " or use hardware.precision=bf16/fp32"
                        )
                    continue
                bad_steps = 0
                scaler.unscale_(optimizer)
                logging_step = (step + 1) % trainer.log_every == 0 or step + 1 == stop_at
                grad_norm = None  # the norm before clipping: clipping computes it anyway, else only when logged
                if trainer.grad_clip > 0:
                    grad_norm = strategy.clip_gradients(model, trainer.grad_clip)
                elif logging_step:
                    grad_norm = strategy.gradient_norm(model)
                lr = optimizer.param_groups[0]["lr"]
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1

                tokens = sum(int(b.attention_mask.sum()) for b in micro)
                now = time.perf_counter()
                elapsed, clock = now - clock, now
                window_tokens += tokens * runtime.world_size
                tokens_seen += tokens * runtime.world_size
                window_time += elapsed
                window_data += data_seconds
                # the products this process executed (other processes' batches are alike), see workbench.training.flops
                window_flops += sum(step_flops(encoder_config, forward_shape(model, b.labels, b.attention_mask))
                                    for b in micro) * runtime.world_size

                if logging_step:
                    tokens_per_second = window_tokens / max(window_time, 1e-9)
                    mfu = window_flops / max(window_time, 1e-9) / (hardware.peak_for() * 1e12 * runtime.world_size)
                    metrics = {
                        "loss": loss_value,
                        "mlm_accuracy": global_correct / global_masked,
                        "grad_norm": float(grad_norm),
                        "lr": lr,
                        "tokens_per_second": tokens_per_second,
                        "mfu": mfu,
                        "data_fraction": window_data / max(window_time, 1e-9),  # share of step time spent on data
                    }
                    logger.log(step, "train", metrics)
                    result.losses.append(loss_value)
                    progress.set_postfix(  # drawn by the next update(), at most once a second
                        loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_second:,.0f}", refresh=False
                    )
                    window_tokens, window_time, window_flops, window_data = 0, 0.0, 0.0, 0.0
                progress.update(1)

                if validation_batches and (step % trainer.eval_every == 0 or step == stop_at):
                    result.validation = validate(model, validation_batches, runtime, hardware.precision)
                    logger.log(step, "valid", result.validation)
                if step % trainer.checkpoint_every == 0 or step == stop_at:
                    save(step)
                if stop_requested:
                    save(step)
                    result.stopped_early = True
                    if runtime.is_main:
                        log.warning("stop requested: checkpoint written at step %d; rerun the same command to resume", step)
                    break
    except torch.OutOfMemoryError as error:  # nothing is half-written: checkpoints are atomic, model/ comes last
        raise TrainingError(out_of_memory_advice(trainer, hardware, runtime.world_size, f"in step {step + 1}", error)) from error
    finally:
        progress.close()
        logger.close()
    result.steps = step
    if step < trainer.max_steps and not result.stopped_early:  # trainer.stop_at_step reached
        result.stopped_early = True
        if runtime.is_main:
            log.info("stopped at trainer.stop_at_step=%d (checkpoint written); rerun with the same run_name to go on", step)
    if not result.stopped_early:
        weights = strategy.model_state(model)  # collective under FSDP
        if runtime.is_main:
            save_model_folder(
                run_dir / "model", weights, encoder_config, tokenizer.directory,
                provenance(cfg, steps=step, validation=result.validation, corpus=_corpus_record(shards, tokens_seen),
                           **({"init_from": init.record()} if init is not None else {})),
            )
    return result


def _corpus_record(shards, tokens_seen: int) -> dict:
    """What the model card states about the pretraining data: the shard set, its training tokens, the tokens seen."""
    train = (shards.manifest.get("splits") or {}).get("train") or {}
    record = {"shards": str(shards.folder), "tokens_seen": int(tokens_seen)}
    if "tokens" in train:
        record["train_tokens"] = int(train["tokens"])
    return record
