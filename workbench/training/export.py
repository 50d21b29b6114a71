"""The run's final transformers export: ``runs/<run>/transformers/`` beside the workbench ``model/`` folder.

The class is the family's masked-LM class (``CamembertForMaskedLM``, ``RobertaForMaskedLM``,
``BertForMaskedLM`` or ``BertForPreTraining`` when the NSP head was trained, ``FlaubertWithLMHeadModel``),
with the tokenizer files, so ``transformers.AutoModelForMaskedLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` read it as is. The folder is written atomically (complete or absent).
transformers is an optional (dev) dependency: without it the same files are written from workbench alone
(``workbench.interop.transformers_files``), for transformers to load where it is installed.
Its ``README.md`` is the model card (``workbench.interop.model_card``): architecture, parameters, tokenizer,
corpus, recipe and hardware from ``model/manifest.json``, and the evaluation table of the results database
(refreshed by ``eval`` after each job on the run's model: ``refresh_run_card``).
The folder holds no ``manifest.json`` on purpose (a manifest beside ``model.safetensors`` is what marks a
workbench model folder): its provenance is ``model/manifest.json``, the weights it was converted from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Mapping, Optional, Sequence

import torch

from workbench.artifacts.atomic import write_text
from workbench.artifacts.model_folder import is_model_folder, load_model_folder
from workbench.interop.card_facts import (
    architecture_facts, corpus_facts, evaluation_rows, gain_rows, hardware_facts, parameter_count, pretraining_recipe,
    tokenizer_facts,
)
from workbench.interop.hf_config import InteropError, to_hf_config
from workbench.interop.hf_layout import ARCHITECTURES, BERT_WITH_NSP
from workbench.interop.model_card import CARD_FILE, ModelCard, ModelCardConfig, render
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.tokenization.tokenizer import Tokenizer, TokenizerError

log = logging.getLogger(__name__)

EXPORT_DIR = "transformers"


def transformers_missing() -> Optional[str]:
    """Why transformers cannot be imported (None when it can)."""
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        return f"the transformers package is not installed ({error}); pip install -e .[dev] to get it"
    return None


def _skipped(reason: str) -> None:
    log.warning("transformers export skipped: %s; the workbench model folder is complete", reason)


def pretrained_card(model: PretrainingModel, tokenizer_dir: Path, name: str, manifest: Dict[str, Any],
                    card: ModelCardConfig, results: Sequence[Any] = (), kinds: Optional[Dict[str, str]] = None) -> ModelCard:
    """The card of a pretraining run's export; ``results``: results-database rows (those of model ``name`` make the
    evaluation table, with ``<name> (random init)`` the gain); ``kinds``: task name -> kind."""
    fields = to_hf_config(model.config)
    nsp = model.nsp_head is not None
    architecture = BERT_WITH_NSP if nsp else ARCHITECTURES[(model.config.family, "pretraining")]
    facts = architecture_facts(SimpleNamespace(**fields, architectures=[architecture]))
    corpus = corpus_facts(manifest)
    config = manifest.get("config") or {}
    languages = list(card.language) or sorted({s.get("language", "fr") for s in (config.get("corpus") or {}).get("sources") or []})
    try:
        tokenizer = Tokenizer.load(tokenizer_dir, require_manifest=False)
        tokenizer_lines, mask = tokenizer_facts(tokenizer.meta, tokenizer.vocab_size), tokenizer.special_tokens.mask
    except TokenizerError as error:  # a folder without workbench's meta: the card says so, the export goes on
        tokenizer_lines, mask = {"tokenizer": f"not described ({error})"}, "<mask>"
    return ModelCard(
        name=name, license=card.license, language=languages, pipeline_tag="fill-mask",
        summary=(f"A {model.config.family} encoder ({model.config.size}) pretrained by workbench"
                 f"{' on ' + str(corpus['name']) if corpus else ''}: masked-language-model head"
                 f"{' and next-sentence head' if nsp else ''}, for fill-mask, embeddings or fine-tuning."),
        architecture=facts, parameters=parameter_count(model),
        tokenizer=tokenizer_lines,
        datasets=[str(corpus["name"])] if corpus else [], corpus=corpus, recipe=pretraining_recipe(manifest),
        hardware=hardware_facts(manifest), evaluation=evaluation_rows(results, name, kinds or {}),
        gains=gain_rows(results, name),
        usage=("from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline\n\n"
               'fill = pipeline("fill-mask", model="<this folder>")\n'
               f'fill("Le camembert est un {mask} normand.")'),
        provenance={"code": (manifest.get("code") or {}).get("git_commit") or (manifest.get("code") or {}).get("workbench"),
                    "created": manifest.get("created"), "weights sha256": manifest.get("weights_sha256")},
    )


def _run_name(target: Path) -> str:
    return target.parent.name


def export_pretrained(state_dict: Mapping[str, torch.Tensor], encoder_config: EncoderConfig, tokenizer_dir: Path,
                      target: Path, manifest: Optional[Dict[str, Any]] = None,
                      card: Optional[ModelCardConfig] = None) -> Optional[Path]:
    """Write ``target`` from a full pretraining state dict, with its model card (``manifest``: the model folder's);
    returns None (after logging why) when it cannot."""
    from workbench.interop.transformers_export import export_to_transformers
    from workbench.interop.transformers_files import write_transformers_files

    nsp = any(key.startswith("nsp_head.") for key in state_dict)
    model = PretrainingModel(encoder_config, nsp=nsp)
    model.load_state_dict(dict(state_dict))
    missing = transformers_missing()
    try:
        text = render(pretrained_card(model, tokenizer_dir, _run_name(target), manifest or {}, card or ModelCardConfig()))
        if missing is None:
            export_to_transformers(model.eval(), target, tokenizer_dir=tokenizer_dir, overwrite=True, extra_files={CARD_FILE: text})
        else:  # the same files, written without transformers (loadable once it is installed)
            write_transformers_files(model.eval(), target, tokenizer_dir=tokenizer_dir, overwrite=True, extra_files={CARD_FILE: text})
    except InteropError as error:  # a configuration transformers cannot express: the run itself is fine
        return _skipped(str(error))
    log.info("transformers export: %s%s", target, "" if missing is None else " (written without transformers installed)")
    return target


def export_run(run_dir: Path, replace: bool, card: Optional[ModelCardConfig] = None) -> Optional[Path]:
    """Export ``run_dir/model`` to ``run_dir/transformers`` (when it is there already: only with ``replace``; an
    export written before model cards existed gets its card)."""
    target = run_dir / EXPORT_DIR
    if not is_model_folder(run_dir / "model"):
        return None
    if (target / "config.json").exists() and not replace:
        if not (target / CARD_FILE).exists():
            refresh_run_card(run_dir, card or ModelCardConfig())
        return target
    loaded = load_model_folder(run_dir / "model")
    return export_pretrained(loaded.state_dict, loaded.encoder_config, loaded.directory / "tokenizer", target,
                             loaded.manifest, card)


def refresh_run_card(run_dir: Path, card: ModelCardConfig, results: Sequence[Any] = (),
                     kinds: Optional[Dict[str, str]] = None, name: Optional[str] = None) -> Optional[Path]:
    """Rewrite ``run_dir/transformers/README.md`` (atomically) with ``results`` (results-database rows of model
    ``name``, default the run's name) in its evaluation table; None when the run has no export."""
    target = run_dir / EXPORT_DIR
    if not (target / "config.json").exists() or not is_model_folder(run_dir / "model"):
        return None
    loaded = load_model_folder(run_dir / "model")
    nsp = any(key.startswith("nsp_head.") for key in loaded.state_dict)
    model = PretrainingModel(loaded.encoder_config, nsp=nsp)
    model.load_state_dict(dict(loaded.state_dict))
    text = render(pretrained_card(model, loaded.directory / "tokenizer", name or run_dir.name, loaded.manifest, card,
                                  results, kinds))
    write_text(target / CARD_FILE, text)
    return target / CARD_FILE
