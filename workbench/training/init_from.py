"""Continued pretraining: the folder ``init_from`` names as the weights, architecture and tokenizer of a new run.

``init_from`` is a transformers folder, a fairseq RoBERTa/CamemBERT folder, a workbench run (``runs/<run>``,
its final ``model/``), one of a run's checkpoints (``runs/<run>/checkpoints/step-N``) or a workbench model folder,
resolved as ``eval``/``fill-mask``/``embed`` resolve a model (``workbench.interop.model_source``). The architecture comes from the folder: a ``+model`` whose architecture
fields contradict it is refused naming both values; its training knobs (dropout, layerdrop, padding_free,
initializer_range) are the run's. The tokenizer comes from the folder too: it is written once as a tokenizer folder
``<paths.tokenizers>/init-<name>-<hash>`` (extended with ``init_from_extend_vocab`` new words learned from the
corpus, see ``workbench.tokenization.extend``), which ``prepare`` tokenizes the corpus with and whose name keys the
shards. Only the weights are taken: the optimizer, schedule and data position start fresh (this is not resume; a
run's own checkpoints still resume it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from workbench.artifacts.atomic import atomic_dir, write_json, write_text
from workbench.artifacts.hashing import sha256_file
from workbench.artifacts.provenance import provenance
from workbench.config.choices import ConfigError
from workbench.config.root import WorkbenchConfig
from workbench.corpus.identity import tokenizer_identity
from workbench.interop.model_source import TRANSFORMERS_WEIGHTS, ModelSourceError, folder_label, resolve_model_source
from workbench.model.config import EncoderConfig
from workbench.model.vocabulary import extend_embeddings
from workbench.tokenization.tokenizer import META_FILE, MANIFEST_FILE, Tokenizer

log = logging.getLogger(__name__)

# EncoderConfig fields that are training settings, not architecture: the run's +model sets them (the folder's
# values when no +model is given). Every other field must agree with the folder.
TRAINING_FIELDS = ("size", "dropout", "attention_dropout", "layerdrop", "initializer_range", "padding_free")
# not compared: pad_token_id comes from the tokenizer, pooler is built when NSP trains it (below)
DERIVED_FIELDS = ("pad_token_id", "pooler")
EXTEND_SAMPLE_LINES = 200_000  # corpus lines (seeded sample) the new words of init_from_extend_vocab are counted on
TRANSFORMERS_TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json")
PIECES_FILE = "added_tokens_pieces.json"  # extended tokenizer folders: each new token and its old pieces' ids


class InitFromError(ConfigError):
    """``init_from`` cannot be used as asked; the message names the folder, the key and the fix."""


@dataclass
class InitSource:
    """The model ``init_from`` resolved to."""

    path: Path  # the folder the weights come from
    kind: str  # workbench | checkpoint | transformers | fairseq
    encoder_config: EncoderConfig  # vocabulary size resolved
    state_dict: Dict[str, torch.Tensor]  # PretrainingModel keys: encoder.* and, where the folder has one, mlm_head.*
    tokenizer: Tokenizer
    weights_sha256: str
    name: str  # a short label (the folder's or run's name)
    added_words: List[str] = field(default_factory=list)  # init_from_extend_vocab: the new vocabulary entries

    def record(self) -> Dict:
        """What the run's manifest records (``init_from``)."""
        return {"path": str(self.path.resolve()), "kind": self.kind, "weights_sha256": self.weights_sha256,
                "architecture": dataclasses.asdict(self.encoder_config), "added_tokens": len(self.added_words)}


def _label(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", folder_label(path)).strip(".-") or "model"


def _combined_sha256(paths: List[Path]) -> str:
    if len(paths) == 1:
        return sha256_file(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(sha256_file(path).encode("ascii"))
    return digest.hexdigest()


def _from_checkpoint(folder: Path, key: str) -> InitSource:
    from workbench.evaluation.checkpoints import load_run_checkpoint
    from workbench.evaluation.errors import FinetuneError

    try:
        loaded = load_run_checkpoint(folder)
    except FinetuneError as error:
        raise InitFromError(f"{key}={folder}: {error}") from None
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    name = f"{_label(folder.parent.parent)}-step{loaded.step}"
    return InitSource(folder, "checkpoint", loaded.encoder_config, dict(loaded.state_dict), loaded.tokenizer,
                      meta["sha256"]["model.safetensors"], name)


def _from_transformers(folder: Path, key: str) -> InitSource:
    from workbench.interop.hf_config import InteropError
    from workbench.interop.transformers_import import import_from_transformers
    from workbench.interop.transformers_tokenizer import tokenizer_from_transformers

    try:
        imported = import_from_transformers(folder)
        tokenizer = tokenizer_from_transformers(folder)[0]
    except InteropError as error:
        raise InitFromError(f"{key}={folder}: {error}") from None
    if imported.kind not in ("pretraining", "encoder"):
        raise InitFromError(
            f"{key}={folder}: {imported.architecture} is a fine-tuned {imported.kind} model; continued pretraining"
            " starts from a masked-LM (*ForMaskedLM, BertForPreTraining) or bare encoder (*Model) folder"
        )
    state = imported.model.state_dict()
    if imported.kind == "encoder":
        state = {f"encoder.{k}": v for k, v in state.items()}
    weights = sorted(p for p in folder.iterdir() if p.name in TRANSFORMERS_WEIGHTS or p.name.startswith("model-0"))
    weights = [p for p in weights if not p.name.endswith(".index.json")] or weights
    return InitSource(folder, "transformers", imported.config, state, tokenizer, _combined_sha256(weights), _label(folder))


def _from_fairseq(folder: Path, key: str) -> InitSource:
    from workbench.interop.fairseq_import import import_fairseq
    from workbench.interop.hf_config import InteropError

    try:
        imported = import_fairseq(folder)
    except InteropError as error:
        raise InitFromError(f"{key}={folder}: {error}") from None
    return InitSource(folder, "fairseq", imported.config, imported.model.state_dict(), imported.tokenizer,
                      imported.checkpoint_sha256, _label(folder))


def _from_model_folder(folder: Path, key: str) -> InitSource:
    from workbench.artifacts.model_folder import ModelFolderError, load_model_folder

    try:
        loaded = load_model_folder(folder)
    except ModelFolderError as error:
        raise InitFromError(f"{key}={folder}: {error}") from None
    return InitSource(folder, "workbench", loaded.encoder_config, dict(loaded.state_dict), loaded.tokenizer,
                      loaded.weights_sha256 or sha256_file(folder / "model.safetensors"), _label(folder))


def load_init_source(path: str, key: str = "init_from") -> InitSource:
    """The weights, architecture and tokenizer of the folder ``path`` (any kind ``eval`` accepts)."""
    try:
        source = resolve_model_source(path, key)
    except ModelSourceError as error:
        raise InitFromError(str(error)) from None
    loader = {"checkpoint": _from_checkpoint, "workbench": _from_model_folder, "transformers": _from_transformers,
              "fairseq": _from_fairseq}[source.kind]
    return loader(source.folder, key)


# ------------------------------------------------------------------------------------------------ architecture
def merged_encoder_config(source: EncoderConfig, requested: Optional[EncoderConfig], nsp: bool, where: Path) -> EncoderConfig:
    """The run's ``EncoderConfig``: the folder's architecture with the run's training settings. A ``+model``
    (``requested``) whose architecture differs from the folder's is one error listing every differing key."""
    if requested is None:
        return dataclasses.replace(source, pooler=source.pooler or nsp)
    differences = []
    for spec in dataclasses.fields(EncoderConfig):
        if spec.name in TRAINING_FIELDS or spec.name in DERIVED_FIELDS:
            continue
        theirs, ours = getattr(source, spec.name), getattr(requested, spec.name)
        if spec.name == "vocab_size" and ours is None:
            continue
        if theirs != ours:
            differences.append(f"model.{spec.name}={theirs!r} in the folder, {ours!r} in +model={requested.family}_{requested.size}")
    if differences:
        raise InitFromError(
            f"init_from={where}: the architecture comes from the folder, and +model contradicts it: {'; '.join(differences)}."
            " Drop +model (the folder's architecture is used), or choose a +model that matches it"
        )
    settings = {name: getattr(requested, name) for name in TRAINING_FIELDS}
    return dataclasses.replace(source, **settings, pooler=source.pooler or nsp)


# ------------------------------------------------------------------------------------------------ tokenizer
def _transformers_files(tokenizer: Tokenizer, max_positions: int) -> Dict[str, Dict]:
    """``tokenizer_config.json`` and ``special_tokens_map.json``: the source folder's where it has them (a
    transformers or workbench tokenizer folder), else the family's (``PreTrainedTokenizerFast`` over tokenizer.json)."""
    from workbench.tokenization.families import get_family

    directory = tokenizer.directory
    if directory is not None and all((directory / name).is_file() for name in TRANSFORMERS_TOKENIZER_FILES):
        files = {name: json.loads((directory / name).read_text(encoding="utf-8")) for name in TRANSFORMERS_TOKENIZER_FILES}
        # the slow files (vocab.txt, sentencepiece models) are not copied: tokenizer.json is the tokenizer
        files["tokenizer_config.json"].pop("tokenizer_file", None)
        return files
    tokens = dict(get_family(tokenizer.family).transformers_tokens)
    names = ["input_ids", "token_type_ids", "attention_mask"] if tokenizer.family == "bert" else ["input_ids", "attention_mask"]
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_positions,
              "clean_up_tokenization_spaces": False, "model_input_names": names, **tokens}
    return {"tokenizer_config.json": config, "special_tokens_map.json": tokens}


def _copy_native(tokenizer: Tokenizer, target: Path) -> None:
    """A workbench tokenizer folder's own files (native artefacts included), its manifest left out."""
    assert tokenizer.directory is not None
    for item in tokenizer.directory.iterdir():
        if item.is_file() and item.name != MANIFEST_FILE:
            shutil.copy2(item, target / item.name)


def write_tokenizer_folder(directory: Path, tokenizer: Tokenizer, backend_json: str, record: Dict,
                           max_positions: int, added: List[Dict]) -> Tokenizer:
    """The tokenizer folder of an ``init_from`` run (atomically, manifest last); ``added``: the new entries and their
    old pieces (``added_tokens_pieces.json``, what the model's new rows are initialised from)."""
    with atomic_dir(directory, overwrite=True) as tmp:
        is_workbench_folder = tokenizer.directory is not None and (tokenizer.directory / META_FILE).is_file()
        if is_workbench_folder and not added:
            _copy_native(tokenizer, tmp)
        else:
            for name, content in _transformers_files(tokenizer, max_positions).items():
                write_json(tmp / name, content)
        write_text(tmp / "tokenizer.json", backend_json)
        from tokenizers import Tokenizer as HFTokenizer

        backend = HFTokenizer.from_str(backend_json)
        meta = {**tokenizer.meta, "name": directory.name, "vocab_size": backend.get_vocab_size(with_added_tokens=True)}
        if not (tmp / str(meta.get("sentencepiece_model", ""))).is_file():  # no native file: tokenizer.json is the tokenizer
            meta.pop("sentencepiece_model", None)
        if added:
            meta["extended_from"] = record["source_tokenizer"]
            write_json(tmp / PIECES_FILE, added)
        write_json(tmp / META_FILE, meta)
        write_json(tmp / MANIFEST_FILE, provenance(record, artifact="init_from_tokenizer"))
    return Tokenizer.load(directory)


def _extension_words(cfg: WorkbenchConfig, tokenizer: Tokenizer) -> Tuple[str, List[str], List[List[int]]]:
    """(extended tokenizer.json, new entries, their pieces' ids under ``tokenizer``) learned from the corpus."""
    from workbench.text.sampling import sample_lines
    from workbench.tokenization.extend import extend_tokenizer, count_pre_tokens

    if cfg.corpus is None:
        raise InitFromError("init_from_extend_vocab learns new words from the corpus: choose one with corpus=<name>")
    sample = sample_lines(cfg.corpus.sources, EXTEND_SAMPLE_LINES, cfg.seed)
    extended = extend_tokenizer(tokenizer, count_pre_tokens(tokenizer, sample.lines), cfg.init_from_extend_vocab)
    return extended.backend_json, extended.tokens, extended.pieces


def tokenizer_name(source: InitSource, cfg: WorkbenchConfig) -> str:
    """``init-<label>-<hash>``: the hash covers the folder's tokenizer and, with an extension, its size, the corpus
    and the seed, so that ``prepare`` and ``train`` given the same command find the same folder."""
    identity: Dict = {"tokenizer": tokenizer_identity(source.tokenizer)["sha256"]}
    if cfg.init_from_extend_vocab:
        assert cfg.corpus is not None
        identity.update(extend=cfg.init_from_extend_vocab, corpus=dataclasses.asdict(cfg.corpus), seed=cfg.seed,
                        sample_lines=EXTEND_SAMPLE_LINES)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:10]
    suffix = f"-ext{cfg.init_from_extend_vocab}" if cfg.init_from_extend_vocab else ""
    return f"init-{source.name}{suffix}-{digest}"[:120]


def _tokenizer_folder(cfg: WorkbenchConfig, source: InitSource) -> Tuple[Tokenizer, List[str], List[List[int]]]:
    """The run's tokenizer folder (written when absent), the new entries and their old pieces."""
    directory = Path(cfg.paths.tokenizers) / tokenizer_name(source, cfg)
    pieces_file = directory / PIECES_FILE
    if (directory / MANIFEST_FILE).exists():
        tokenizer = Tokenizer.load(directory)
        if not cfg.init_from_extend_vocab:
            return tokenizer, [], []
        added = json.loads(pieces_file.read_text(encoding="utf-8"))
        return tokenizer, [row["token"] for row in added], [row["pieces"] for row in added]
    record = {"init_from": str(source.path.resolve()), "weights_sha256": source.weights_sha256,
              "source_tokenizer": tokenizer_identity(source.tokenizer), "extend_vocab": cfg.init_from_extend_vocab}
    words: List[str] = []
    pieces: List[List[int]] = []
    backend_json = source.tokenizer.backend.to_str(pretty=True)
    if cfg.init_from_extend_vocab:
        backend_json, words, pieces = _extension_words(cfg, source.tokenizer)
        record.update(corpus=dataclasses.asdict(cfg.corpus), seed=cfg.seed, sample_lines=EXTEND_SAMPLE_LINES,
                      added_tokens=len(words))
    tokenizer = write_tokenizer_folder(directory, source.tokenizer, backend_json, record, source.encoder_config.max_positions,
                                       [{"token": w, "pieces": p} for w, p in zip(words, pieces)])
    log.info("init_from tokenizer: %s (%d entries%s)", directory, tokenizer.vocab_size,
             f", {len(words)} new from the corpus" if words else "")
    return tokenizer, words, pieces


@dataclass
class InitPlan:
    """What ``train``/``prepare`` run with: the config (model and tokenizer name from the folder), the source."""

    cfg: WorkbenchConfig
    source: InitSource
    tokenizer: Tokenizer


def plan_init_from(cfg: WorkbenchConfig) -> InitPlan:
    """Resolve ``cfg.init_from``: its weights (extended when ``init_from_extend_vocab``), the run's model config and
    the tokenizer folder the corpus is tokenized with."""
    assert cfg.init_from
    source = load_init_source(cfg.init_from)
    encoder_config = merged_encoder_config(source.encoder_config, cfg.model, cfg.trainer.objective.nsp, source.path)
    tokenizer, words, pieces = _tokenizer_folder(cfg, source)
    if words:
        state, rows = extend_embeddings(source.state_dict, tokenizer.vocab_size - len(words), pieces,
                                        tie=encoder_config.tie_word_embeddings)
        encoder_config = dataclasses.replace(encoder_config, vocab_size=max(rows, encoder_config.vocab_size or 0))
        source = dataclasses.replace(source, state_dict=state, added_words=words)
    assert cfg.tokenizer is not None
    folder_name = tokenizer.directory.name if tokenizer.directory is not None else cfg.tokenizer.name
    cfg = dataclasses.replace(cfg, model=encoder_config, tokenizer=dataclasses.replace(cfg.tokenizer, name=folder_name))
    return InitPlan(cfg, source, tokenizer)


# ------------------------------------------------------------------------------------------------ weights
def load_initial_weights(model: nn.Module, state: Mapping[str, torch.Tensor], where: Path) -> List[str]:
    """Load ``state`` into a fresh ``PretrainingModel``; returns the keys left at their initialisation (an MLM
    head the folder lacks, e.g. a bare encoder; an NSP head). A missing encoder tensor or a shape that does not fit
    is an error naming it."""
    expected = model.state_dict()
    usable = {k: v for k, v in state.items() if k in expected}
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})" for k, v in usable.items() if v.shape != expected[k].shape]
    if wrong:
        raise InitFromError(f"init_from={where}: tensors do not fit the model: {', '.join(wrong[:5])}")
    tied = getattr(model, "mlm_head").decoder.weight is getattr(model, "encoder").word_embeddings.weight
    fresh = [k for k in expected if k not in usable and not (tied and k == "mlm_head.decoder.weight")]
    missing_encoder = [k for k in fresh if k.startswith("encoder.") and not k.startswith("encoder.pooler.")]
    if missing_encoder:
        raise InitFromError(f"init_from={where}: the folder lacks encoder tensors {missing_encoder[:5]}")
    model.load_state_dict(usable, strict=False)
    return fresh
