"""The model behind ``fill-mask`` and ``embed``: a workbench model folder, a pretraining run folder (its
``model/``), one checkpoint of a run (``runs/<run>/checkpoints/<step>``), a transformers folder or a fairseq RoBERTa/CamemBERT folder (``model.pt`` + ``dict.txt`` +
``sentencepiece.bpe.model``, imported by ``workbench.interop.fairseq_import``), resolved by the one resolver
every stage uses (``workbench.interop.model_source``).

Workbench folders give the workbench ``Encoder`` (and the tied ``MaskedLMHead`` of the ``PretrainingModel``,
``mlm_head.*`` in ``model.safetensors``). Transformers folders go through ``import_from_transformers`` (the
exact workbench equivalent) when it supports the architecture, else through transformers'
``AutoModelForMaskedLM`` / ``AutoModel``. Either way the caller gets one object with ``mlm_logits`` and
``hidden_states``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from workbench.artifacts.model_folder import ModelFolderError, load_model_folder
from workbench.interop.model_source import ModelSource, ModelSourceError, resolve_model_source
from workbench.model.encoder import Encoder
from workbench.model.heads import MaskedLMHead
from workbench.tokenization.tokenizer import Tokenizer
from workbench.interop.transformers_tokenizer import usable_positions


class InferenceError(ValueError):
    """Bad input to an inference stage (model path, text, file); the message names it and the fix."""




@dataclass
class InferenceModel:
    tokenizer: Tokenizer
    path: Path
    source: str  # "workbench" | "transformers" (imported as workbench modules) | "transformers-auto" | "fairseq"
    max_positions: int  # longest input (special tokens included)
    encoder: Optional[Encoder] = None  # workbench modules
    mlm_head: Optional[MaskedLMHead] = None
    hf_model: Optional[nn.Module] = None  # transformers' own model (architectures workbench does not import)

    @property
    def num_layers(self) -> int:
        if self.encoder is not None:
            return self.encoder.config.num_layers
        return int(self.hf_model.config.num_hidden_layers if hasattr(self.hf_model.config, "num_hidden_layers") else self.hf_model.config.n_layers)

    def _hf_inputs(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> Dict[str, torch.Tensor]:
        inputs = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inspect.signature(self.hf_model.forward).parameters:
            inputs["token_type_ids"] = types
        return inputs

    @torch.no_grad()
    def mlm_logits(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """``[M, V]`` logits at the flat ``positions`` (``b * T + t``, ascending) of a ``[B, T]`` batch."""
        if self.hf_model is not None:
            logits = self.hf_model(**self._hf_inputs(ids, mask, types)).logits
            return logits.reshape(-1, logits.shape[-1]).index_select(0, positions).float()
        if self.mlm_head is None:
            raise InferenceError(f"{self.path}: this model has no masked-LM head")
        hidden = self.encoder(ids, mask, types, output_positions=positions)
        return self.mlm_head(hidden).float()

    @torch.no_grad()
    def hidden_states(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> List[torch.Tensor]:
        """``num_layers + 1`` tensors ``[B, T, H]``: embedding output, then every layer (the last as the model returns it)."""
        if self.hf_model is not None:
            out = self.hf_model(**self._hf_inputs(ids, mask, types), output_hidden_states=True)
            return [h.float() for h in out.hidden_states]
        return [h.float() for h in self.encoder(ids, mask, types, output_hidden_states=True)]


def resolve_model_path(path: Optional[str], key: str) -> Tuple[str, Path]:
    """(``"workbench"`` | ``"checkpoint"`` | ``"transformers"`` | ``"fairseq"``, folder) of the model ``key=path``
    names (``workbench.interop.model_source``: every stage's one resolver)."""
    source = resolve_source(path, key)
    return source.kind, source.folder


def resolve_source(path: Optional[str], key: str) -> ModelSource:
    """``resolve_model_source`` with its error as an ``InferenceError``."""
    try:
        return resolve_model_source(path, key)
    except ModelSourceError as error:
        raise InferenceError(str(error)) from None


def _load_run_checkpoint(folder: Path):
    """A checkpoint of a pretraining run: its weights, with the run's architecture and tokenizer."""
    from workbench.evaluation.checkpoints import load_run_checkpoint
    from workbench.evaluation.errors import FinetuneError

    try:
        return load_run_checkpoint(folder)
    except FinetuneError as error:
        raise InferenceError(str(error)) from None


def _imported_fairseq(folder: Path):
    from workbench.interop.fairseq_import import import_fairseq
    from workbench.interop.hf_config import InteropError

    try:
        return import_fairseq(folder)
    except InteropError as error:
        raise InferenceError(str(error)) from None


def _load_workbench_folder(folder: Path):
    try:
        return load_model_folder(folder)
    except ModelFolderError as error:
        raise InferenceError(str(error)) from None


def _load_workbench(kind: str, folder: Path):
    """A workbench model folder or a run checkpoint (both: ``state_dict``, ``encoder_config``, ``tokenizer``)."""
    return _load_run_checkpoint(folder) if kind == "checkpoint" else _load_workbench_folder(folder)


def _workbench_encoder(state: Dict[str, torch.Tensor], config, folder: Path) -> Encoder:
    encoder_state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    encoder = Encoder(config, add_pooler="pooler.dense.weight" in encoder_state)
    try:
        encoder.load_state_dict(encoder_state, strict=True)
    except RuntimeError as error:
        raise InferenceError(f"{folder}: encoder weights do not fit model_config.json ({error})") from None
    return encoder.eval()


def _workbench_mlm_head(state: Dict[str, torch.Tensor], config, encoder: Encoder, folder: Path) -> MaskedLMHead:
    head_state = {k[len("mlm_head."):]: v for k, v in state.items() if k.startswith("mlm_head.")}
    if not head_state:
        raise InferenceError(
            f"{folder}: model.safetensors has no masked-LM head (mlm_head.*): fill-mask needs a pretrained model"
            " folder (runs/<run>/model), not a fine-tuned one"
        )
    head = MaskedLMHead(config)
    if config.tie_word_embeddings:
        head.tie_to(encoder.word_embeddings)
        decoder = head_state.pop("decoder.weight", None)
        if decoder is not None and not torch.equal(decoder, encoder.word_embeddings.weight):
            raise InferenceError(f"{folder}: tie_word_embeddings is true but mlm_head.decoder.weight differs from the word embeddings")
        head_state["decoder.weight"] = encoder.word_embeddings.weight.detach()
    try:
        head.load_state_dict(head_state, strict=True)
    except RuntimeError as error:
        raise InferenceError(f"{folder}: mlm_head weights do not fit model_config.json ({error})") from None
    return head.eval()


def _transformers_tokenizer(folder: Path) -> Tokenizer:
    from workbench.interop.hf_config import InteropError
    from workbench.interop.transformers_tokenizer import tokenizer_from_transformers

    try:
        return tokenizer_from_transformers(folder)[0]
    except InteropError as error:
        raise InferenceError(str(error)) from None


def _imported(folder: Path):
    """``import_from_transformers`` result, or None when workbench does not support the architecture."""
    from workbench.interop.hf_config import InteropError
    from workbench.interop.transformers_import import import_from_transformers

    try:
        return import_from_transformers(folder)
    except InteropError:
        return None


def load_masked_lm(path: Optional[str], key: str = "fill_mask.model") -> InferenceModel:
    kind, folder = resolve_model_path(path, key)
    if kind in ("workbench", "checkpoint"):
        loaded = _load_workbench(kind, folder)
        encoder = _workbench_encoder(loaded.state_dict, loaded.encoder_config, folder)
        head = _workbench_mlm_head(loaded.state_dict, loaded.encoder_config, encoder, folder)
        return InferenceModel(loaded.tokenizer, folder, "workbench", loaded.encoder_config.max_positions, encoder, head)
    if kind == "fairseq":
        fairseq = _imported_fairseq(folder)
        model = fairseq.model
        return InferenceModel(fairseq.tokenizer, folder, "fairseq", fairseq.config.max_positions, model.encoder, model.mlm_head)
    tokenizer = _transformers_tokenizer(folder)
    imported = _imported(folder)
    if imported is not None and imported.kind == "pretraining":
        model = imported.model
        return InferenceModel(tokenizer, folder, "transformers", imported.config.max_positions, model.encoder, model.mlm_head)
    import transformers

    try:
        model, info = transformers.AutoModelForMaskedLM.from_pretrained(str(folder), output_loading_info=True)
    except Exception as error:  # transformers raises many types for unknown/missing architectures
        raise InferenceError(f"{folder}: transformers cannot build a masked-LM model from it ({type(error).__name__}: {error})") from None
    if info.get("missing_keys"):
        raise InferenceError(
            f"{folder}: the checkpoint has no masked-LM head (missing {sorted(info['missing_keys'])[:4]});"
            " fill-mask needs a *ForMaskedLM checkpoint"
        )
    return InferenceModel(tokenizer, folder, "transformers-auto", usable_positions(model.config), hf_model=model.eval())


def load_embedder(path: Optional[str], key: str = "embed.model") -> InferenceModel:
    kind, folder = resolve_model_path(path, key)
    if kind in ("workbench", "checkpoint"):
        loaded = _load_workbench(kind, folder)
        encoder = _workbench_encoder(loaded.state_dict, loaded.encoder_config, folder)
        return InferenceModel(loaded.tokenizer, folder, "workbench", loaded.encoder_config.max_positions, encoder)
    if kind == "fairseq":
        fairseq = _imported_fairseq(folder)
        return InferenceModel(fairseq.tokenizer, folder, "fairseq", fairseq.config.max_positions, fairseq.model.encoder)
    tokenizer = _transformers_tokenizer(folder)
    imported = _imported(folder)
    if imported is not None:
        encoder = imported.model if imported.kind == "encoder" else imported.model.encoder
        return InferenceModel(tokenizer, folder, "transformers", imported.config.max_positions, encoder.eval())
    import transformers

    try:
        model = transformers.AutoModel.from_pretrained(str(folder))
    except Exception as error:
        raise InferenceError(f"{folder}: transformers cannot load it ({type(error).__name__}: {error})") from None
    return InferenceModel(tokenizer, folder, "transformers-auto", usable_positions(model.config), hf_model=model.eval())
