"""The best-dev model of one fine-tuning job as a transformers folder with its task head and model card.

``<run folder>/transformers/`` holds ``config.json`` (the family's ``*ForSequenceClassification``,
``*ForTokenClassification`` or ``*ForQuestionAnswering`` class, label names in ``id2label``/``label2id``;
multi-label models: ``problem_type=multi_label_classification`` and the threshold tuned on dev as
``multi_label_threshold``), ``model.safetensors``, the tokenizer files and ``README.md`` (the model card).
``config.json`` also keeps a ``workbench`` block (the task's kind, lengths and decoding settings, the tokenizer's
meta) from which ``predict`` rebuilds exactly the features and decoding of the job. A workbench (or imported
fairseq) model is converted to transformers' class (``to_transformers_model``: every tensor must find its
place); a transformers model is saved as it is. The caller writes into the run folder's temporary directory,
so the folder appears complete with the run's manifest, or not at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from workbench.artifacts.atomic import write_json, write_text
from workbench.artifacts.model_folder import MANIFEST_FILE
from workbench.evaluation.config import TaskConfig
from workbench.evaluation.metrics import PRIMARY_METRIC
from workbench.evaluation.models import LoadedForTask
from workbench.interop.card_facts import (
    architecture_facts, corpus_facts, gain_rows, parameter_count, pretraining_recipe, tokenizer_facts,
)
from workbench.interop.model_card import CARD_FILE, PIPELINE_TAGS, EvaluationRow, ModelCard, ModelCardConfig, render
from workbench.tokenization.tokenizer import Tokenizer

log = logging.getLogger(__name__)

FINETUNED_DIR = "transformers"
WORKBENCH_KEY = "workbench"  # config.json block read back by predict
WORKBENCH_FORMAT = 1
THRESHOLD_KEY = "multi_label_threshold"
TASK_FIELDS = ("name", "kind", "language", "metric", "max_seq_len", "max_question_len", "doc_stride", "max_answer_len",
               "n_best", "squad_normalization", "label_delimiter", "text_column", "pair_column")
AUTO_CLASSES = {
    "classification": "AutoModelForSequenceClassification",
    "pair_classification": "AutoModelForSequenceClassification",
    "multilabel_classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
    "extractive_qa": "AutoModelForQuestionAnswering",
}


@dataclass
class FinetunedJob:
    """What the card and the config say about one finished job."""

    name: str  # leaderboard name of the model
    task: TaskConfig
    labels: List[str]
    decoding: Dict[str, float]  # multi-label: {"threshold": t}
    scores: Dict[str, Dict[str, float]]
    hyperparameters: Dict[str, Any]
    seed: int
    source_model: str  # finetune.model
    precision: str
    device: str
    card: ModelCardConfig = field(default_factory=ModelCardConfig)
    known_results: List[Any] = field(default_factory=list)  # ResultRows of the task (random-init rows give the gain)


def transformers_missing() -> Optional[str]:
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        return f"the transformers package is not installed ({error}); pip install -e .[dev] to get it"
    return None


def _hf_model(loaded: LoadedForTask, job: FinetunedJob):
    """The transformers model object of the fine-tuned weights, with labels and decoding in its config."""
    inner = loaded.model.model
    with_labels = job.task.kind != "extractive_qa"
    if loaded.model.backend == "workbench":
        from workbench.interop.transformers_export import to_transformers_model

        hf = to_transformers_model(inner, job.labels if with_labels else None)
    else:
        hf = inner
        if with_labels:
            hf.config.id2label = dict(enumerate(job.labels))
            hf.config.label2id = {label: i for i, label in enumerate(job.labels)}
    if job.task.kind == "multilabel_classification":
        hf.config.problem_type = "multi_label_classification"
        setattr(hf.config, THRESHOLD_KEY, float(job.decoding["threshold"]))
    elif with_labels and hf.config.problem_type is None:
        hf.config.problem_type = "single_label_classification"
    task = {key: getattr(job.task, key) for key in TASK_FIELDS}
    setattr(hf.config, WORKBENCH_KEY, {"format": WORKBENCH_FORMAT, "task": task, "labels": list(job.labels),
                                       "decoding": dict(job.decoding), "tokenizer": dict(loaded.tokenizer.meta),
                                       "seed": job.seed, "source_model": job.source_model})
    return hf


def write_tokenizer(tokenizer: Tokenizer, target: Path, max_positions: int) -> None:
    """The tokenizer's transformers files in ``target`` (``AutoTokenizer`` gives the same ids)."""
    from workbench.interop.transformers_export import copy_tokenizer_files
    from workbench.tokenization.export import set_model_max_length
    from workbench.tokenization.families import get_family

    source = tokenizer.directory
    if source is not None and (source / "tokenizer_config.json").exists() and not (source / "config.json").exists():
        copy_tokenizer_files(source, target, max_positions)  # a workbench tokenizer folder
        return
    if source is not None and (source / "config.json").exists():  # a transformers model folder: its own tokenizer
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target))
        set_model_max_length(target, max_positions)
        return
    # in memory (an imported fairseq vocabulary) or a folder without transformers files
    from tokenizers import Tokenizer as HFTokenizer

    family = get_family(tokenizer.family)
    tokens = dict(family.transformers_tokens)
    backend = HFTokenizer.from_str(tokenizer.backend.to_str())
    if backend.post_processor is None:  # transformers adds the special tokens through it (workbench: build_inputs)
        backend.post_processor = family.post_processor(backend.get_vocab(with_added_tokens=True))
    write_text(target / "tokenizer.json", backend.to_str(pretty=True))
    write_json(target / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_positions,
        "clean_up_tokenization_spaces": False, **tokens,
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"] if family.name == "bert" else ["input_ids", "attention_mask"],
    })
    write_json(target / "special_tokens_map.json", tokens)


def _source_manifest(model: str) -> Dict[str, Any]:
    """The manifest of a workbench model folder (or of a run's ``model/``); {} for other sources."""
    for candidate in (Path(model) / MANIFEST_FILE, Path(model) / "model" / MANIFEST_FILE):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                return {}
    return {}


def evaluation_rows(job: FinetunedJob) -> List[EvaluationRow]:
    primary = PRIMARY_METRIC[job.task.metric]
    return [EvaluationRow(job.task.name, job.task.kind, split, primary, metrics[primary], [job.seed])
            for split, metrics in job.scores.items() if split != "train" and primary in metrics]


def _usage(kind: str, folder: str) -> str:
    auto = AUTO_CLASSES[kind]
    lines = ["from transformers import AutoTokenizer, " + auto, "",
             f'tokenizer = AutoTokenizer.from_pretrained("{folder}")', f'model = {auto}.from_pretrained("{folder}")']
    if kind == "multilabel_classification":
        lines += ["# labels l with sigmoid(logit_l) >= model.config.multi_label_threshold"]
    lines += ["", "# or, with workbench's own features and decoding:",
              f"# python -m workbench predict model={folder} input_file=<file> output=predictions.jsonl"]
    return "\n".join(lines)


def model_card(hf, loaded: LoadedForTask, job: FinetunedJob) -> ModelCard:
    task = job.task
    manifest = _source_manifest(job.source_model)
    recipe = {"fine-tuning": f"{task.name} ({task.kind}), seed {job.seed}, model selected on dev ({PRIMARY_METRIC[task.metric]})",
              **{key: value for key, value in job.hyperparameters.items()}}
    train = job.scores.get("train", {})
    for key in ("best_step", "best_epoch", "seconds"):
        if key in train:
            recipe[f"training {key.replace('_', ' ')}"] = round(train[key], 2)
    if "threshold" in job.decoding:
        recipe["decision threshold (tuned on dev)"] = job.decoding["threshold"]
    if manifest:
        recipe.update({f"pretraining {k}": v for k, v in pretraining_recipe(manifest).items() if v is not None})
    known = [row for row in job.known_results if row.model != job.name]
    own = [_Row(job.name, task.name, split, metric, value, job.seed)
           for split, metrics in job.scores.items() if split != "train" for metric, value in metrics.items()
           if metric == PRIMARY_METRIC[task.metric]]
    return ModelCard(
        name=f"{job.name} fine-tuned on {task.name} (seed {job.seed})",
        license=job.card.license, language=list(job.card.language) or [task.language],
        pipeline_tag=PIPELINE_TAGS[task.kind],
        summary=(f"`{job.name}` ({loaded.source} model from `{job.source_model}`) fine-tuned by workbench on"
                 f" `{task.name}` ({task.kind}); the weights of its best dev evaluation."),
        architecture=architecture_facts(hf.config), parameters=parameter_count(hf),
        tokenizer=tokenizer_facts(loaded.tokenizer.meta, loaded.tokenizer.vocab_size),
        datasets=[task.name], corpus=corpus_facts(manifest) if manifest else None, recipe=recipe,
        hardware={"device": job.device, "precision": job.precision},
        evaluation=evaluation_rows(job), gains=gain_rows(known + own, job.name),
        labels=list(job.labels) if task.kind != "extractive_qa" else [],
        usage=_usage(task.kind, "<this folder>"),
        provenance={"source model": job.source_model, "checkpoint hash": loaded.checkpoint_hash},
    )


@dataclass(frozen=True)
class _Row:
    """This job's own scores in the shape of a results-database row (for ``gain_rows``)."""

    model: str
    task: str
    split: str
    metric: str
    value: float
    seed: int

    @property
    def primary_metric(self) -> str:
        return self.metric


def export_finetuned(target: Path, loaded: LoadedForTask, job: FinetunedJob) -> Optional[Path]:
    """Write ``target`` (inside the run folder being written); None, after a warning, without transformers."""
    missing = transformers_missing()
    if missing is not None:
        log.warning("fine-tuned model not saved as a transformers folder: %s", missing)
        return None
    from workbench.interop.hf_config import InteropError

    try:
        hf = _hf_model(loaded, job)
    except InteropError as error:  # a configuration transformers cannot express: the job's scores stand
        log.warning("fine-tuned model not saved as a transformers folder: %s", error)
        return None
    target.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(target))
    write_tokenizer(loaded.tokenizer, target, loaded.max_positions)
    write_text(target / CARD_FILE, render(model_card(hf, loaded, job)))
    return target
