"""Schemas of the ``task`` group (a downstream dataset), of fine-tuning and of reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from omegaconf import MISSING

from workbench.config.choices import ConfigError, check_choice, check_fraction, check_positive

TASK_KINDS = ("classification", "pair_classification", "multilabel_classification", "token_classification", "extractive_qa")
FORMATS = ("tsv", "csv", "jsonl", "cls_review", "conll", "squad_json", "datasets")
MULTILABEL_METRICS = ("micro_f1", "macro_f1", "weighted_f1")  # the F1 average that selects models and the threshold
METRICS = ("accuracy", "entity_f1", "squad", *MULTILABEL_METRICS)
KIND_METRICS = {  # the metrics each task kind can be scored with (the first is the usual one)
    "classification": ("accuracy",),
    "pair_classification": ("accuracy",),
    "multilabel_classification": MULTILABEL_METRICS,
    "token_classification": ("entity_f1",),
    "extractive_qa": ("squad",),
}
KIND_FORMATS = {  # the file formats that hold each task kind (datasets: any)
    "classification": ("tsv", "csv", "jsonl", "cls_review", "datasets"),
    "pair_classification": ("tsv", "csv", "jsonl", "cls_review", "datasets"),
    "multilabel_classification": ("tsv", "csv", "jsonl", "datasets"),
    "token_classification": ("conll", "datasets"),
    "extractive_qa": ("squad_json", "datasets"),
}
TAG_SCHEMES = ("iob2", "iob1", "plain")
SQUAD_NORMALIZATIONS = ("official", "french")
SCHEDULES = ("full", "two_phase")
LR_SCHEDULES = ("linear", "constant")  # after warmup: linear decay to 0, or constant
REVIEW_FIELDS = ("summary", "text", "title")
INITS = ("pretrained", "random")
EVAL_EVERY_EPOCH = "epoch"  # finetune.eval_every: per epoch, else a number of optimizer steps
RANDOM_INIT_SUFFIX = " (random init)"  # leaderboard name of a random-initialisation row: "<model> (random init)"
BENCHMARKS = {"flue": "fr", "glue": "en", "none": None}  # benchmark -> the language its tasks must have
CARVE_GROUPS = ("example", "text")  # held-out splits drawn by example, or by first text (premises stay on one side)


@dataclass
class LocalFiles:
    """A task's copy under ``paths.data`` (``data=local``). Its train/dev/test/extra_test replace the task's
    (paths relative to ``paths.data``; dev or test None: carved from train with dev_fraction/test_fraction);
    every other field set here replaces the task's value, None keeps it."""

    train: Optional[str] = None
    dev: Optional[str] = None
    test: Optional[str] = None
    extra_test: Dict[str, str] = field(default_factory=dict)
    format: Optional[str] = None
    has_header: Optional[bool] = None
    text_column: Optional[str] = None
    pair_column: Optional[str] = None
    label_column: Optional[str] = None
    token_column: Optional[int] = None
    tag_column: Optional[int] = None
    tag_scheme: Optional[str] = None
    dev_fraction: Optional[float] = None
    test_fraction: Optional[float] = None
    carve_group: Optional[str] = None
    # why these scores cannot be set beside published test scores (e.g. the test split is carved from the
    # official dev set); the leaderboard shows it
    not_comparable: Optional[str] = None


@dataclass
class TaskRecipe:
    """Per-task fine-tuning defaults (optimizer and schedule); ``finetune.*`` values override them when set."""

    lr: float = 3e-5
    epochs: float = 3.0
    batch_size: int = 32
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        check_positive("task.recipe.lr", self.lr)
        check_positive("task.recipe.epochs", self.epochs)
        check_positive("task.recipe.batch_size", self.batch_size)
        check_fraction("task.recipe.warmup_ratio", self.warmup_ratio)
        check_positive("task.recipe.weight_decay", self.weight_decay, allow_zero=True)


@dataclass
class TaskConfig:
    name: str = MISSING
    kind: str = "classification"
    language: str = "fr"
    # the published benchmark the task belongs to: flue tasks (fr) enter the leaderboard's FLUE average, glue
    # tasks (en) the GLUE average; none: the language's own average ("French (non-FLUE) avg", ...)
    benchmark: str = "none"
    format: str = "tsv"
    train: Optional[str] = None  # local file path, or hub split name when format=datasets
    dev: Optional[str] = None  # None: carve dev_fraction of train (split_seed) as dev
    test: Optional[str] = None  # None: carve test_fraction of train, or no test split when 0
    extra_test: Dict[str, str] = field(default_factory=dict)  # more labeled eval splits, e.g. {test_mismatched: validation_mismatched}
    hub_name: Optional[str] = None  # format=datasets: hub name or local dataset folder
    hub_subset: Optional[str] = None
    has_header: bool = True  # tsv/csv: whether the first row names the columns
    text_column: str = "text"  # column name, or its 0-based index when has_header=false; datasets NER: the tokens field
    pair_column: Optional[str] = None  # pair_classification: second text
    label_column: str = "label"  # datasets NER: the tags field
    filter_column: Optional[str] = None  # tsv/csv/jsonl/datasets: keep only rows whose filter_column == filter_value
    filter_value: Optional[str] = None  # (e.g. the original XNLI tsv: language == fr)
    review_fields: List[str] = field(default_factory=lambda: ["text"])  # cls_review: fields joined into the text
    token_column: int = 0  # conll: column of the token
    tag_column: int = -1  # conll: column of the tag (-1: last)
    comment_prefix: Optional[str] = None  # conll: lines starting with it are skipped (CoNLL-U "# sent_id")
    sentence_break_tokens: List[str] = field(default_factory=list)  # conll without blank lines: end a sentence after these tokens
    tag_scheme: str = "iob2"  # tags in the file are converted to IOB2
    labels: List[str] = field(default_factory=list)  # empty: the sorted labels seen in train; datasets: names of integer labels
    # multilabel_classification: the labels of one example are a list (jsonl, datasets) or one string cut at this
    # delimiter (csv/tsv cells, jsonl strings); an empty cell means no label applies
    label_delimiter: str = ","
    # multilabel_classification: label l is predicted when sigmoid(logit_l) >= threshold; None: the one global
    # threshold that maximizes task.metric on dev (tuned at every dev evaluation, recorded as dev metric "threshold")
    threshold: Optional[float] = None
    metric: str = "accuracy"
    max_seq_len: int = 128
    max_question_len: int = 64  # extractive_qa: question tokens kept
    doc_stride: int = 64  # extractive_qa: overlap between windows over long contexts
    max_answer_len: int = 30  # extractive_qa: in sub-word tokens
    n_best: int = 20  # extractive_qa: span candidates per window
    squad_normalization: str = "official"  # french also strips le/la/les/l'/un/une/des/du/de la
    max_train_examples: Optional[int] = None  # subsample train for quick runs (first N, file order)
    max_eval_examples: Optional[int] = None  # subsample dev/test for quick runs (first N, file order)
    max_dev_examples: Optional[int] = None  # dev only (overrides max_eval_examples for dev)
    max_test_examples: Optional[int] = None  # each test split only (overrides max_eval_examples for tests)
    dev_fraction: float = 0.0  # dev is None: this fraction of train is held out as dev
    test_fraction: float = 0.0  # test is None: this fraction of train is held out as test
    split_seed: int = 0  # the held-out split is the same for every model and seed (QA: whole articles are held out)
    carve_group: str = "example"  # text: examples sharing their first text (an NLI premise) are held out together
    not_comparable: Optional[str] = None  # set: why the scores are not comparable with published test scores
    local: Optional[LocalFiles] = None  # the task's copy under paths.data, used with data=local
    recipe: TaskRecipe = field(default_factory=TaskRecipe)

    def __post_init__(self) -> None:
        name = self.name
        check_choice(f"task.kind (task {name})", self.kind, TASK_KINDS)
        check_choice(f"task.format (task {name})", self.format, FORMATS)
        check_choice(f"task.benchmark (task {name})", self.benchmark, tuple(BENCHMARKS))
        if BENCHMARKS[self.benchmark] not in (None, self.language):
            raise ConfigError(
                f"task {name}: task.benchmark={self.benchmark} holds {BENCHMARKS[self.benchmark]} tasks, not"
                f" task.language={self.language}; set task.benchmark=none or task.language={BENCHMARKS[self.benchmark]}"
            )
        check_choice(f"task.metric (task {name})", self.metric, METRICS)
        check_choice(f"task.tag_scheme (task {name})", self.tag_scheme, TAG_SCHEMES)
        check_choice(f"task.squad_normalization (task {name})", self.squad_normalization, SQUAD_NORMALIZATIONS)
        check_positive(f"task.max_seq_len (task {name})", self.max_seq_len)
        check_positive(f"task.max_question_len (task {name})", self.max_question_len)
        check_positive(f"task.doc_stride (task {name})", self.doc_stride)
        check_positive(f"task.max_answer_len (task {name})", self.max_answer_len)
        check_positive(f"task.n_best (task {name})", self.n_best)
        check_fraction(f"task.dev_fraction (task {name})", self.dev_fraction)
        check_fraction(f"task.test_fraction (task {name})", self.test_fraction)
        check_choice(f"task.carve_group (task {name})", self.carve_group, CARVE_GROUPS)
        for key in ("max_train_examples", "max_eval_examples", "max_dev_examples", "max_test_examples"):
            if getattr(self, key) is not None:
                check_positive(f"task.{key} (task {name})", getattr(self, key))
        for key in self.review_fields:
            check_choice(f"task.review_fields (task {name})", key, REVIEW_FIELDS)
        if self.format == "datasets" and not self.hub_name:
            raise ConfigError(f"task {name}: format=datasets needs task.hub_name (a hub dataset name or folder)")
        if self.kind == "pair_classification" and self.format != "cls_review" and not self.pair_column:
            raise ConfigError(f"task {name}: kind=pair_classification needs task.pair_column (the second text)")
        expected = KIND_METRICS[self.kind]
        if self.metric not in expected:
            raise ConfigError(f"task {name}: kind={self.kind} is scored with metric={' | '.join(expected)}, not {self.metric}")
        if self.format not in KIND_FORMATS[self.kind]:
            raise ConfigError(
                f"task {name}: format={self.format} does not hold kind={self.kind} examples;"
                f" use format={' | '.join(KIND_FORMATS[self.kind])}"
            )
        if self.kind == "multilabel_classification" and not self.label_delimiter:
            raise ConfigError(f"task {name}: task.label_delimiter must not be empty (e.g. ',' or '|')")
        if self.threshold is not None:
            check_fraction(f"task.threshold (task {name})", self.threshold)
            if self.kind != "multilabel_classification":
                raise ConfigError(f"task {name}: task.threshold applies to kind=multilabel_classification only; remove it")
        if self.dev is None and self.dev_fraction == 0:
            raise ConfigError(f"task {name}: set task.dev (a file or hub split) or task.dev_fraction > 0 (model selection needs dev)")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ConfigError(f"task {name}: dev_fraction + test_fraction must leave training data (< 1)")
        if self.kind == "extractive_qa" and self.doc_stride >= self.max_seq_len:
            raise ConfigError(f"task {name}: task.doc_stride={self.doc_stride} must be < task.max_seq_len={self.max_seq_len}")
        if (self.filter_column is None) != (self.filter_value is None):
            raise ConfigError(f"task {name}: set both task.filter_column and task.filter_value, or neither")


@dataclass
class FinetuneConfig:
    model: Optional[str] = None  # a workbench model folder (runs/<run>/model) or a transformers model folder
    model_name: Optional[str] = None  # leaderboard label; default: the folder name (parent's name for runs/<run>/model)
    # random: the same architecture and tokenizer from the family's initialisation (seeded by the job's seed), no
    # pretrained weights; its own leaderboard row "<model> (random init)"
    init: str = "pretrained"
    # finetune.model is a pretraining run folder: fine-tune these of its checkpoints, each named <run>@<step>:
    # all | last | steps, e.g. '200,400' (quoted: a bare comma makes a Hydra sweep); None: the run's final model
    checkpoints: Optional[str] = None
    # fine-tuning dropout replacing the model's own (hidden states and task head; attention probabilities);
    # None: the model's value (a model pretrained with dropout 0 then fine-tunes without any)
    dropout: Optional[float] = None
    attention_dropout: Optional[float] = None
    # None below: the task's recipe value (task.recipe.*); set them to sweep, e.g. -m finetune.lr=1e-5,3e-5 seed=1,2,3
    lr: Optional[float] = None
    epochs: Optional[float] = None
    batch_size: Optional[int] = None
    warmup_ratio: Optional[float] = None
    weight_decay: Optional[float] = None
    lr_schedule: str = "linear"  # after warmup: linear decay to zero | constant
    adam_betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    grad_clip: float = 1.0  # 0 disables clipping
    schedule: str = "full"  # full | two_phase (head only with the encoder frozen, then everything)
    frozen_epochs: float = 1.0  # two_phase: epochs of phase one
    frozen_lr: float = 1e-3  # two_phase: learning rate of phase one
    group_by_length: bool = True  # batches of similar lengths (dynamic padding wastes less)
    pad_to_multiple_of: int = 8  # dynamic padding rounds the batch length up to this (tensor-core friendly)
    eval_batch_size: int = 64
    evals_per_epoch: int = 1  # dev evaluations per epoch (model selection picks the best one)
    # when dev is evaluated: "epoch" (evals_per_epoch times per epoch, always at its end) or a number N of optimizer
    # steps (at every multiple of N over the whole job and at the last step of each phase); a string because
    # OmegaConf has no int-or-str type: finetune.eval_every=200 arrives as "200"
    eval_every: str = EVAL_EVERY_EPOCH
    # optimizer steps between training-loss records (mean loss over the interval) in the job's curves.jsonl and the
    # results database; the report draws every record. 1: every step (a sample job has ~20 steps: 50, the old
    # default, left one or two points per job); raise it for jobs of tens of thousands of steps
    log_every: int = 1
    database: Optional[str] = None  # results database; default <paths.evals>/results.sqlite
    save_predictions: bool = True  # write dev/test predictions into the run folder
    save: bool = True  # keep the best-dev model in the run folder as a transformers folder (<run folder>/transformers)

    def __post_init__(self) -> None:
        check_choice("finetune.schedule", self.schedule, SCHEDULES)
        check_choice("finetune.init", self.init, INITS)
        check_choice("finetune.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        for key in ("lr", "epochs", "batch_size"):
            value = getattr(self, key)
            if value is not None:
                check_positive(f"finetune.{key}", value)
        if self.warmup_ratio is not None:
            check_fraction("finetune.warmup_ratio", self.warmup_ratio)
        for key in ("dropout", "attention_dropout"):
            if getattr(self, key) is not None:
                check_fraction(f"finetune.{key}", getattr(self, key))
        if self.weight_decay is not None:
            check_positive("finetune.weight_decay", self.weight_decay, allow_zero=True)
        check_positive("finetune.grad_clip", self.grad_clip, allow_zero=True)
        check_positive("finetune.frozen_lr", self.frozen_lr)
        check_positive("finetune.eval_batch_size", self.eval_batch_size)
        check_positive("finetune.evals_per_epoch", self.evals_per_epoch)
        self.eval_every = str(self.eval_every)  # FinetuneConfig(eval_every=200) from Python code too
        if self.eval_every != EVAL_EVERY_EPOCH and not (self.eval_every.isdigit() and int(self.eval_every) > 0):
            raise ConfigError(
                f"finetune.eval_every={self.eval_every!r} is not valid; use {EVAL_EVERY_EPOCH!r} (after each epoch,"
                " finetune.evals_per_epoch times) or a positive number of optimizer steps, e.g. finetune.eval_every=200"
            )
        check_positive("finetune.pad_to_multiple_of", self.pad_to_multiple_of)
        check_positive("finetune.log_every", self.log_every)
        if len(self.adam_betas) != 2:
            raise ConfigError(f"finetune.adam_betas={self.adam_betas} must have two values, e.g. [0.9, 0.999]")

    @property
    def eval_every_steps(self) -> Optional[int]:
        """The optimizer steps between dev evaluations, or None when dev is evaluated per epoch."""
        return None if self.eval_every == EVAL_EVERY_EPOCH else int(self.eval_every)


DATA_SOURCES = ("default", "local")
REPORT_FORMATS = ("all", "markdown", "csv", "html", "latex")


@dataclass
class DataConfig:
    """``data=local``: every task reads its copy under ``paths.data`` (its ``task.local`` block) instead of its
    own source (hub names or files as written in conf/task)."""

    source: str = "default"

    def __post_init__(self) -> None:
        check_choice("data.source", self.source, DATA_SOURCES)


@dataclass
class ReportConfig:
    title: str = "workbench leaderboard"
    output_dir: str = "evals/report"
    models: List[str] = field(default_factory=list)  # empty: every model in the database
    tasks: List[str] = field(default_factory=list)  # empty: every task in the database
    database: Optional[str] = None  # default <paths.evals>/results.sqlite
    plots: bool = True  # embed PNG plots (per-task bars, learning curves) in the HTML page
    # the files written under output_dir: all (leaderboard.md, .csv, .html and .tex) | markdown | csv | html |
    # latex (leaderboard.tex: the headline table as a booktabs table for papers)
    format: str = "all"
    # pretraining run folders (runs/<run>; a bare name is looked up under paths.runs) whose metrics.jsonl the report
    # draws: loss, validation perplexity, MLM accuracy and lr against steps, and a summary row per run
    runs: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_choice("report.format", self.format, REPORT_FORMATS)
