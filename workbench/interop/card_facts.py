"""What a model card states, read from the artifacts' own records: a transformers model's config and
parameters, a tokenizer's meta, a pretraining model folder's ``manifest.json`` (corpus, recipe, hardware) and
the results database (evaluation table, gain over random init). No rendering here (``model_card``)."""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional, Sequence

from torch import nn

from workbench.evaluation.config import RANDOM_INIT_SUFFIX
from workbench.interop.model_card import EvaluationRow, GainRow


def parameter_count(model: nn.Module) -> int:
    """The parameters of ``model``, each shared (tied) tensor once: what ``model.num_parameters()`` reports."""
    return sum(parameter.numel() for parameter in model.parameters())


def architecture_facts(hf_config: Any) -> Dict[str, Any]:
    """The architecture lines of a card from a transformers config object."""
    get = lambda *names: next((getattr(hf_config, n) for n in names if getattr(hf_config, n, None) is not None), None)  # noqa: E731
    return {
        "class": (getattr(hf_config, "architectures", None) or ["?"])[0],
        "family": getattr(hf_config, "model_type", "?"),
        "layers": get("num_hidden_layers", "n_layers"),
        "hidden size": get("hidden_size", "emb_dim"),
        "attention heads": get("num_attention_heads", "n_heads"),
        "feed-forward size": get("intermediate_size"),
        "max positions": get("max_position_embeddings"),
        "vocabulary": get("vocab_size", "n_words"),
    }


def tokenizer_facts(meta: Dict[str, Any], vocab_size: int) -> Dict[str, Any]:
    normalization = meta.get("normalization") or {}
    return {
        "name": meta.get("name"),
        "algorithm": meta.get("algorithm"),
        "family conventions": meta.get("family"),
        "vocabulary size": vocab_size,
        "lowercase": meta.get("lowercase"),
        "unicode normalization": normalization.get("unicode"),
        "pre-tokenizer": meta.get("pre_tokenizer"),
    }


def _sources(corpus: Dict[str, Any]) -> str:
    return "; ".join(f"{s.get('path')} ({s.get('kind', 'text')}, {s.get('language', '?')})" for s in corpus.get("sources") or [])


def corpus_facts(manifest: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The pretraining corpus of a model folder's manifest: name, sources, token counts, licence."""
    config = manifest.get("config") or {}
    corpus = config.get("corpus")
    if not corpus:
        return None
    recorded = manifest.get("corpus") or {}  # written by pretraining since model cards exist
    return {
        "name": corpus.get("name"),
        "sources": _sources(corpus),
        "tokens in the training shards": f"{recorded['train_tokens']:,}" if "train_tokens" in recorded else "not recorded",
        "tokens seen in pretraining": f"{recorded['tokens_seen']:,}" if "tokens_seen" in recorded else "not recorded",
        "shard set": recorded.get("shards"),
        "licence": corpus.get("license") or "not recorded (set corpus.license)",
    }


def pretraining_recipe(manifest: Dict[str, Any]) -> Dict[str, Any]:
    config = manifest.get("config") or {}
    trainer = config.get("trainer") or {}
    objective = trainer.get("objective") or {}
    optimizer = trainer.get("optimizer") or {}
    packing = config.get("packing") or {}
    validation = manifest.get("validation") or {}
    return {
        "objective": ", ".join(f"{k}={v}" for k, v in objective.items() if not isinstance(v, (dict, list))) or None,
        "steps": manifest.get("steps"),
        "global batch (sequences)": trainer.get("global_batch_size"),
        "sequence length": packing.get("max_seq_len"),
        "packing": packing.get("mode"),
        "optimizer": ", ".join(f"{k}={v}" for k, v in optimizer.items() if not isinstance(v, (dict, list))) or None,
        "final validation": ", ".join(f"{k}={v:.4g}" for k, v in validation.items() if isinstance(v, (int, float))) or None,
    }


def hardware_facts(manifest: Dict[str, Any]) -> Dict[str, Any]:
    config = manifest.get("config") or {}
    hardware = config.get("hardware") or {}
    cpu = manifest.get("cpu") or {}
    return {
        "accelerator": hardware.get("accelerator"),
        "processes per node": hardware.get("devices"),
        "strategy": hardware.get("strategy"),
        "precision": manifest.get("precision") or hardware.get("precision"),
        "CPU": cpu.get("model"),
        "platform": manifest.get("platform"),
    }


def evaluation_rows(rows: Sequence[Any], model: str, kinds: Dict[str, str]) -> List[EvaluationRow]:
    """The mean primary metric per (task, split) of ``model`` over its seeds (``ResultRow``s of one model;
    ``kinds``: task name -> task kind, for the Hub's task type)."""
    groups: Dict[tuple, Dict[int, float]] = {}
    for row in rows:
        if row.model == model and row.metric == row.primary_metric and row.split != "train":
            groups.setdefault((row.task, row.split, row.metric), {})[row.seed] = row.value
    out = []
    for (task, split, metric), by_seed in sorted(groups.items()):
        values = [by_seed[s] for s in sorted(by_seed)]
        std = statistics.stdev(values) if len(values) > 1 else None
        out.append(EvaluationRow(task, kinds.get(task, "classification"), split, metric, statistics.fmean(values), sorted(by_seed), std))
    return out


def gain_rows(rows: Sequence[Any], model: str) -> List[GainRow]:
    """Per task, the test score of ``model`` minus that of ``<model> (random init)``, means over their seeds."""
    def means(name: str) -> Dict[str, tuple]:
        by_task: Dict[str, Dict[int, float]] = {}
        for row in rows:
            if row.model == name and row.split == "test" and row.metric == row.primary_metric:
                by_task.setdefault(row.task, {})[row.seed] = row.value
        return {task: (statistics.fmean(v.values()), sorted(v)) for task, v in by_task.items()}

    pretrained, random_init = means(model), means(model + RANDOM_INIT_SUFFIX)
    metric = {row.task: row.metric for row in rows if row.model == model and row.metric == row.primary_metric}
    return [GainRow(task, metric[task], pretrained[task][0] - random_init[task][0], pretrained[task][0], random_init[task][0],
                    sorted(set(pretrained[task][1]) | set(random_init[task][1])))
            for task in sorted(set(pretrained) & set(random_init))]
