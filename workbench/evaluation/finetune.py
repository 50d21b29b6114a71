"""One fine-tuning job: (model, task, hyperparameters, seed) -> scores on dev and test, stored everywhere.

``finetune_task`` loads the task and the model, trains with AdamW (warmup then
linear decay), evaluates dev ``evals_per_epoch`` times per epoch (or every
``eval_every`` optimizer steps), keeps the weights and the dev predictions of
the best dev evaluation (model selection on dev; dev is not predicted again),
predicts every labeled test split with those weights, writes the run folder
``<evals>/runs/<model>/<task>/<hparams hash>/seed-<seed>/`` (metrics, curves,
predictions, ``manifest.json`` last) and replaces the job's rows in the
results database. A finished run folder of the same job is reused: its scores
are stored again without retraining.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple

import torch
from tqdm.auto import tqdm

from workbench.artifacts.atomic import atomic_dir, write_json, write_text
from workbench.artifacts.provenance import code_version, config_hash, provenance
from workbench.artifacts.reuse import Reuse, reuse_decision
from workbench.hardware.precision import PrecisionError, PrecisionPolicy, resolve_precision
from workbench.config.choices import ConfigError
from workbench.evaluation.config import RANDOM_INIT_SUFFIX, FinetuneConfig, TaskConfig
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.examples import Example, MultiLabelExample, QAExample, TaggedSentence
from workbench.evaluation.features.batching import length_grouped_batches, shuffled_batches
from workbench.evaluation.features.collate import collate
from workbench.evaluation.features.feature import Feature
from workbench.evaluation.hyperparameters import Hyperparameters, resolve_hyperparameters
from workbench.evaluation.kinds import TrainingLoss, head_kind, task_features
from workbench.evaluation.metrics import PRIMARY_METRIC
from workbench.evaluation.baselines import baseline_scores
from workbench.evaluation.export_finetuned import FINETUNED_DIR, FinetunedJob, export_finetuned
from workbench.evaluation.models import LoadedForTask, TaskModel, load_for_task
from workbench.evaluation.predict import Decoding, decode_predictions, model_outputs, score_predictions, tune_decoding
from workbench.evaluation.dropout import Dropout
from workbench.model.kernels.choice import select_kernels, use_kernels
from workbench.evaluation.job_tracking import JobLog, JobTracking, job_config, job_hparams
from workbench.evaluation.readers import TaskData, load_task, task_files_hash
from workbench.evaluation.results_db import CurvePoint, JobKey, JobRecord, ResultsDB
from workbench.interop.model_card import ModelCardConfig
from workbench.training.config import HardwareConfig, OptimizerConfig
from workbench.training.optimizer import build_optimizer
from workbench.training.schedule import finetune_schedule, lr_multiplier, set_lr
from workbench.training.train_step import BadSteps, apply_update, backward

log = logging.getLogger(__name__)


@dataclass
class DevEvaluation:
    """One dev evaluation: its scores (``score_predictions``), the decision rule tuned on it and its predictions."""

    step: int
    epoch: float
    scores: Dict[str, float]
    decoding: Decoding
    predictions: List[object]


@dataclass
class JobResult:
    key: JobKey
    scores: Dict[str, Dict[str, float]]  # split -> metric -> value (percent; train: seconds, examples/s)
    run_dir: Path
    curves: List[CurvePoint] = field(default_factory=list)
    reused: bool = False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _device(hardware: HardwareConfig) -> torch.device:
    if hardware.accelerator == "cpu":
        return torch.device("cpu")
    if hardware.accelerator == "gpu":
        if not torch.cuda.is_available():
            raise FinetuneError("hardware.accelerator=gpu but no CUDA device is visible; use hardware=cpu")
        return torch.device("cuda")
    raise FinetuneError(f"hardware.accelerator={hardware.accelerator} is not supported for fine-tuning; use cpu or gpu")


def _precision(device: torch.device, precision: str) -> PrecisionPolicy:
    try:
        return PrecisionPolicy(precision, device.type)
    except PrecisionError as error:
        raise FinetuneError(str(error)) from None


def _code_version_text() -> str:
    version = code_version()
    text = f"workbench {version.get('workbench', 'unknown')}"
    if "git_commit" in version:
        text += f" {version['git_commit'][:12]}{'+dirty' if version.get('git_dirty') else ''}"
    return text


class _Trainer:
    """The optimization loop of one job (both phases of ``two_phase``), with dev evaluations and best-state tracking."""

    def __init__(self, task: TaskConfig, finetune: FinetuneConfig, hp: Hyperparameters, loaded: LoadedForTask,
                 data: TaskData, train_features: List[Feature], dev_features: List[Feature], device: torch.device,
                 autocast: Callable[[], ContextManager], seed: int, job: Optional[JobLog] = None,
                 scaler: Optional[torch.amp.GradScaler] = None) -> None:
        self.job = job  # TensorBoard (and MLflow) of the job: train loss and lr per logged step, dev scores
        self.task, self.finetune, self.hp, self.loaded, self.data = task, finetune, hp, loaded, data
        self.train_features, self.dev_features = train_features, dev_features
        self.device, self.autocast, self.seed = device, autocast, seed
        self.model: TaskModel = loaded.model
        self.primary = PRIMARY_METRIC[task.metric]
        self.curves: List[CurvePoint] = []
        self.best_score = -math.inf
        self.best_state: Optional[Dict[str, torch.Tensor]] = None
        self.best_at: Tuple[int, float] = (0, 0.0)
        self.best_dev: Optional[DevEvaluation] = None  # the outputs of the best evaluation, reported as dev's
        self.dev_passes = 0
        self.step = 0
        self.seen = 0
        self.eval_seconds = 0.0  # dev evaluations inside the loop, excluded from the training throughput
        self.eval_cpu_seconds = 0.0  # their CPU time (time.process_time), excluded likewise
        # the precision policy's loss scaler (fp16 on CUDA); disabled: plain backward and step
        self.scaler = scaler if scaler is not None else torch.amp.GradScaler(device.type, enabled=False)
        self.loss = TrainingLoss(task, data.train, train_features, data.labels)  # CE from the model, or BCE (multi-label)

    def batches(self, epoch: int) -> List[List[int]]:
        if self.finetune.group_by_length:
            return length_grouped_batches([len(f) for f in self.train_features], self.hp.batch_size, self.seed, epoch)
        return shuffled_batches(len(self.train_features), self.hp.batch_size, self.seed, epoch)

    def evaluate_dev(self, epoch: float) -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            return self._evaluate_dev(epoch)
        finally:
            self.eval_seconds += time.perf_counter() - started
            self.eval_cpu_seconds += time.process_time() - cpu_started

    def _evaluate_dev(self, epoch: float) -> float:
        outputs = model_outputs(self.model, self.dev_features, self.finetune.eval_batch_size, self.device,
                                self.loaded.tokenizer.pad_id, self.finetune.pad_to_multiple_of, self.autocast)
        decoding = tune_decoding(self.task, self.data.dev, outputs, self.data.labels)  # multi-label: the threshold
        self.dev_passes += 1
        predictions = decode_predictions(self.task, self.data.dev, self.dev_features, outputs, self.data.labels, decoding)
        split_scores = score_predictions(self.task, self.data.dev, predictions, self.data.labels)
        scores = {**split_scores, **decoding}
        for metric, value in scores.items():
            self.curves.append(CurvePoint("dev", metric, self.step, epoch, value))
        if self.job is not None:
            self.job.dev(self.step, scores)
        score = scores[self.primary]
        log.info("%s step %d epoch %.2f: dev %s %.2f", self.task.name, self.step, epoch, self.primary, score)
        if score > self.best_score:
            self.best_score = score
            self.best_at = (self.step, epoch)
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            self.best_dev = DevEvaluation(self.step, epoch, split_scores, decoding, predictions)
        return score

    def _evaluates_after(self, index: int, per_epoch: int, done: int, total: int) -> bool:
        """Whether dev is evaluated after this optimizer step (``index`` within the epoch); epoch mode evaluates
        at the end of each epoch outside this test."""
        every_steps = self.finetune.eval_every_steps
        if every_steps is not None:
            return self.step % every_steps == 0 or done == total  # the phase's last weights are a candidate too
        every = max(1, per_epoch // self.finetune.evals_per_epoch)
        return (index + 1) % every == 0 and (index + 1) != per_epoch and done != total

    def run_phase(self, epochs: float, lr: float, epoch_offset: float, frozen: bool) -> None:
        encoder_ids = {id(p) for p in self.model.encoder.parameters()}
        for parameter in self.model.encoder.parameters():
            parameter.requires_grad_(not frozen)
        named = [(n, p) for n, p in self.model.named_parameters() if not (frozen and id(p) in encoder_ids)]
        optimizer = build_optimizer(named, OptimizerConfig(lr=lr, betas=list(self.hp.adam_betas), eps=self.hp.adam_eps,
                                                           weight_decay=self.hp.weight_decay))
        per_epoch = math.ceil(len(self.train_features) / self.hp.batch_size)
        total = max(1, math.ceil(epochs * per_epoch))
        warmup = int(self.hp.warmup_ratio * total)
        schedule = finetune_schedule(self.hp.lr_schedule, warmup)
        params = [p for _, p in named]
        clip = (lambda: torch.nn.utils.clip_grad_norm_(params, self.hp.grad_clip)) if self.hp.grad_clip > 0 else None
        bad_steps = BadSteps(limit=1)  # the first non-finite loss stops the job
        self.model.train()
        done = 0
        epoch = 0
        running, running_n = 0.0, 0
        phase = "head only" if frozen else "fine-tune"
        progress = tqdm(total=total, desc=f"{self.task.name} ({phase})", unit="step", dynamic_ncols=True, leave=False)
        while done < total:
            global_epoch = int(epoch_offset) + epoch
            for index, batch_indices in enumerate(self.batches(global_epoch)):
                if done >= total:
                    break
                set_lr(optimizer, lr * lr_multiplier(done, schedule, total))
                batch = collate([self.train_features[i] for i in batch_indices], self.loaded.tokenizer.pad_id,
                                self.finetune.pad_to_multiple_of)
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                with self.autocast():
                    loss = self.loss(self.model(batch), batch_indices)
                if bad_steps.skip(loss) and bad_steps.exhausted:
                    raise FinetuneError(
                        f"{self.task.name}: non-finite training loss at step {self.step} (lr={lr}); lower finetune.lr"
                    )
                optimizer.zero_grad(set_to_none=True)
                backward(loss, self.scaler)
                apply_update(optimizer, self.scaler, clip)
                done += 1
                self.step += 1
                self.seen += len(batch_indices)
                running += float(loss.detach())
                running_n += 1
                progress.update(1)
                progress.set_postfix(loss=f"{float(loss.detach()):.3f}")
                position = epoch_offset + epoch + (index + 1) / per_epoch
                if self.step % self.finetune.log_every == 0 or done == total:
                    self.curves.append(CurvePoint("train", "loss", self.step, position, running / running_n))
                    if self.job is not None:  # the lr this step was taken with
                        self.job.train(self.step, running / running_n, optimizer.param_groups[0]["lr"])
                    running, running_n = 0.0, 0
                if self._evaluates_after(index, per_epoch, done, total):
                    self.evaluate_dev(position)
            epoch += 1
            if self.finetune.eval_every_steps is None:
                self.evaluate_dev(epoch_offset + min(epoch, epochs))
        progress.close()
        for parameter in self.model.encoder.parameters():
            parameter.requires_grad_(True)


def _prediction_record(example: Example, prediction: object) -> Dict[str, Any]:
    if isinstance(example, QAExample):
        return {"id": example.id, "prediction": prediction, "answers": [a.text for a in example.answers]}
    if isinstance(example, TaggedSentence):
        return {"tokens": list(example.tokens), "prediction": prediction, "gold": list(example.tags or [])}
    if isinstance(example, MultiLabelExample):
        return {"source": example.source, "prediction": prediction, "gold": list(example.labels or [])}
    return {"source": example.source, "prediction": prediction, "gold": example.label}


def _job_identity(task: TaskConfig, hp: Hyperparameters, base_dir: Optional[Path], loaded: LoadedForTask,
                  finetune: FinetuneConfig) -> Dict[str, Any]:
    identity = hp.as_dict()
    if finetune.eval_every_steps is not None:  # other evaluation points select other weights (per epoch: as before)
        identity["eval_every"] = finetune.eval_every_steps
    identity["task_config"] = config_hash(task)  # same task name, other files or subsample: another job
    identity["task_files"] = task_files_hash(task, base_dir)  # same paths, edited files: another job
    # facts the report reads from the stored hyperparameters (only when they apply: other jobs keep their hashes)
    if loaded.init != "pretrained":
        identity["init"] = loaded.init
    if loaded.pretraining is not None:
        identity["pretraining"] = dict(loaded.pretraining)  # {"step", "tokens"} of a checkpoint
    if loaded.run is not None:
        identity["run"] = loaded.run
    if task.not_comparable:
        identity["not_comparable"] = task.not_comparable
    return identity


def leaderboard_name(finetune: FinetuneConfig, loaded: LoadedForTask) -> str:
    """``finetune.model_name`` or the folder's name; ``<name>@<step>`` for a checkpoint, ``<name> (random init)``
    for the random initialisation."""
    name = finetune.model_name or loaded.name
    if finetune.model_name and loaded.pretraining is not None:
        name = f"{finetune.model_name}@{loaded.pretraining['step']}"
    return name + RANDOM_INIT_SUFFIX if loaded.init == "random" else name


def _reuse(run_dir: Path, job_hash: str) -> Optional[Tuple[Dict[str, Dict[str, float]], List[CurvePoint]]]:
    """The scores and curves of the finished job in ``run_dir`` when its manifest records ``job_hash``; else None
    (the job is fine-tuned, replacing the folder: it is a cache keyed by the job's hash). Logs which."""
    decision = reuse_decision(run_dir, job_hash, recorded_hash=lambda manifest: manifest.require("job_hash", str))
    if not isinstance(decision, Reuse):
        log.info("eval job: fine-tuning (%s)", decision.reason)
        return None
    scores = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["scores"]
    curves = [CurvePoint(**json.loads(line)) for line in (run_dir / "curves.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return scores, curves


def finetune_task(
    task: TaskConfig,
    finetune: FinetuneConfig,
    hardware: HardwareConfig,
    seed: int,
    evals_dir: str | Path,
    base_dir: Optional[Path] = None,
    database: Optional[str | Path] = None,
    tracking: Optional[JobTracking] = None,
    card: Optional[ModelCardConfig] = None,
) -> JobResult:
    """Run (or reuse) one job and store its scores; ``base_dir`` resolves relative task paths (default: cwd);
    ``tracking``: tracking=mlflow (TensorBoard is always written; a reused job logs nothing again);
    ``card``: what the exported model's card states (licence, languages)."""
    if not finetune.model:
        raise FinetuneError("finetune.model is not set: point it at a workbench model folder or a transformers folder")
    evals_dir = Path(evals_dir)
    database = Path(database or finetune.database or evals_dir / "results.sqlite")
    hp = resolve_hyperparameters(task, finetune)
    hardware = resolve_precision(hardware)  # hardware.precision=auto: bf16 where the CPU/GPU has it natively
    with _torch_threads(hardware.num_threads):
        return _run_job(task, finetune, hardware, seed, evals_dir, base_dir, database, hp, card or ModelCardConfig(), tracking)


@contextlib.contextmanager
def _torch_threads(count: int):
    """``hardware.num_threads`` for the job only (0: torch's default); the caller's setting is restored."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run_job(task, finetune, hardware, seed, evals_dir, base_dir, database, hp, card, tracking=None) -> JobResult:
    device = _device(hardware)
    policy = _precision(device, hardware.precision)

    data = load_task(task, base_dir)
    torch.manual_seed(seed)  # the head's initialization and dropout depend on the seed
    loaded = load_for_task(finetune.model, head_kind(task.kind), len(data.labels), finetune.init,
                           Dropout(hp.dropout, hp.attention_dropout))
    if task.max_seq_len > loaded.max_positions:  # like transformers' model_max_length: the model's limit wins
        log.warning("%s: task.max_seq_len=%d exceeds the %d positions of %s; using %d", task.name, task.max_seq_len,
                    loaded.max_positions, finetune.model, loaded.max_positions)
        try:
            task = dataclasses.replace(task, max_seq_len=loaded.max_positions)
        except ConfigError as error:
            raise FinetuneError(
                f"{finetune.model} accepts {loaded.max_positions} positions (task.max_seq_len={task.max_seq_len} is"
                f" capped to it): {error}; lower it, e.g. task.doc_stride={loaded.max_positions // 4}"
            ) from None
        hp = resolve_hyperparameters(task, finetune)  # the effective length is part of the job's identity
    name = leaderboard_name(finetune, loaded)
    key = JobKey(name, loaded.checkpoint_hash, task.name, seed, _job_identity(task, hp, base_dir, loaded, finetune))
    run_dir = evals_dir / "runs" / _slug(name) / _slug(task.name) / key.hparams_hash / f"seed-{seed}"
    db = ResultsDB(database)
    reused = _reuse(run_dir, config_hash(key.values()))
    if reused is not None:
        scores, curves = reused
        log.info("%s: reusing finished run %s", task.name, run_dir)
    else:
        finetuned = FinetunedJob(name, task, data.labels, {}, {}, hp.as_dict(), seed, str(finetune.model), hardware.precision,
                                 str(device), card, db.results(tasks=[task.name]) if finetune.save else [])
        with JobLog(run_dir, tracking, f"{name}/{task.name}/{key.hparams_hash}/seed-{seed}",
                    job_config(task, finetune, hp.as_dict(), seed),
                    {"workbench.model": name, "workbench.task": task.name, "workbench.job_hash": key.hparams_hash}) as job:
            scores, curves = _train_and_score(task, finetune, hp, loaded, data, device, policy, seed, key, run_dir,
                                              hardware.precision, finetuned, job)
    db.store(JobRecord(key, task.language, PRIMARY_METRIC[task.metric], scores, curves,
                       created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), code_version=_code_version_text(), run_dir=str(run_dir),
                       benchmark=task.benchmark,
                       squad_normalization=task.squad_normalization if task.kind == "extractive_qa" else "",
                       weights_id=loaded.weights_id))
    return JobResult(key, scores, run_dir, curves, reused is not None)


def _train_and_score(task, finetune, hp, loaded, data, device, policy, seed, key, run_dir, precision, finetuned, job=None):
    tokenizer = loaded.tokenizer
    started = time.perf_counter()
    train_features = task_features(task, data.train, tokenizer, data.labels)
    dev_features = task_features(task, data.dev, tokenizer, data.labels)
    if task.kind == "extractive_qa":
        train_features = [f for f in train_features if f.start_position is not None]
    model = use_kernels(loaded.model.to(device), select_kernels(device.type))  # built on CPU: the device's kernels
    trainer = _Trainer(task, finetune, hp, loaded, data, train_features, dev_features, device, policy.autocast, seed, job,
                       policy.grad_scaler())
    log.info("%s: %d train examples -> %d features, %d dev, model %s (%s)", task.name, len(data.train),
             len(train_features), len(data.dev), key.model, loaded.source)
    train_start, train_cpu_start = time.perf_counter(), time.process_time()
    epoch_offset = 0.0
    if hp.schedule == "two_phase":
        trainer.run_phase(hp.frozen_epochs, hp.frozen_lr, 0.0, frozen=True)
        epoch_offset = hp.frozen_epochs
    trainer.run_phase(hp.epochs, hp.lr, epoch_offset, frozen=False)
    train_seconds = time.perf_counter() - train_start - trainer.eval_seconds
    train_cpu_seconds = time.process_time() - train_cpu_start - trainer.eval_cpu_seconds  # robust to a busy machine
    assert trainer.best_state is not None and trainer.best_dev is not None
    model.load_state_dict(trainer.best_state)

    # dev: the best evaluation's own predictions (the weights loaded back would give the same outputs again);
    # its decision rule (multi-label threshold) is applied to the tests, predicted once with the best weights
    best = trainer.best_dev
    decoding: Decoding = best.decoding
    scores: Dict[str, Dict[str, float]] = {}
    predictions: Dict[str, List[object]] = {}
    for split, examples in data.splits().items():  # dev first
        if split == "dev":
            predictions[split], scores[split] = best.predictions, dict(best.scores)
        else:
            features = task_features(task, examples, tokenizer, data.labels)
            outputs = model_outputs(model, features, finetune.eval_batch_size, device, tokenizer.pad_id,
                                    finetune.pad_to_multiple_of, policy.autocast)
            predictions[split] = decode_predictions(task, examples, features, outputs, data.labels, decoding)
            scores[split] = score_predictions(task, examples, predictions[split], data.labels)
        scores[split].update(baseline_scores(task, data.train, examples, predictions[split]))  # flags of the report
    scores["dev"].update(decoding)  # recorded with the result (rows of split dev, e.g. metric "threshold")
    scores["train"] = {
        "seconds": train_seconds,
        "examples_per_second": trainer.seen / train_seconds if train_seconds > 0 else 0.0,
        "best_step": float(trainer.best_at[0]),
        "best_epoch": float(trainer.best_at[1]),
        "dev_eval_seconds": trainer.eval_seconds,
        "cpu_seconds": train_cpu_seconds,
    }
    log.info("%s seed %d: %s", task.name, seed, {s: {m: round(v, 2) for m, v in ms.items()} for s, ms in scores.items()})

    with atomic_dir(run_dir, overwrite=True) as tmp:
        write_json(tmp / "metrics.json", {"scores": scores, "labels": data.labels, "decoding": decoding, "unlabeled_tests": data.unlabeled_tests,
                                          "n_examples": {"train": len(data.train), **{s: len(e) for s, e in data.splits().items()}},
                                          "total_seconds": time.perf_counter() - started})
        write_text(tmp / "curves.jsonl", "".join(json.dumps(p.__dict__) + "\n" for p in trainer.curves))
        if finetune.save_predictions:
            for split, examples in data.splits().items():
                lines = (json.dumps(_prediction_record(e, p), ensure_ascii=False) + "\n" for e, p in zip(examples, predictions[split]))
                write_text(tmp / "predictions" / f"{split}.jsonl", "".join(lines))
        if job is not None:  # tensorboard/: the curves, hyperparameters and final scores
            job.finish(tmp, job_hparams(hp.as_dict(), key.model, task.name, seed, loaded.init), scores)
        if finetune.save:  # the best-dev model as a transformers folder with its head and model card
            export_finetuned(tmp / FINETUNED_DIR, loaded, dataclasses.replace(finetuned, task=task, decoding=decoding, scores=scores))
        write_json(tmp / "manifest.json", provenance(
            {"task": asdict(task), "finetune": asdict(finetune), "hyperparameters": hp.as_dict(), "seed": seed},
            job_hash=config_hash(key.values()), model=key.model, checkpoint_hash=key.checkpoint_hash,
            model_path=str(finetune.model), model_source=loaded.source, init=loaded.init, precision=precision,
        ))
    return scores, trainer.curves
