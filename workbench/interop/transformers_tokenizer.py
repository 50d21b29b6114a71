"""A transformers folder's fast tokenizer as a workbench ``Tokenizer`` (the same ids, offsets for QA/NER)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

from workbench.interop.hf_config import InteropError
from workbench.tokenization.tokenizer import Tokenizer

ROBERTA_LIKE_MODEL_TYPES = ("roberta", "xlm-roberta", "camembert", "xlm_roberta")


def tokenizer_from_transformers(path: Path) -> Tuple[Tokenizer, str]:
    """The fast tokenizer of a transformers folder as a workbench ``Tokenizer`` (same ids); returns (tokenizer, model_type)."""
    from transformers import AutoTokenizer

    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    model_type = str(config.get("model_type", "bert"))
    try:
        hf = AutoTokenizer.from_pretrained(str(path), use_fast=True)
    except Exception as error:  # transformers raises OSError/ValueError/... for missing or unconvertible files
        raise InteropError(f"{path}: cannot load its tokenizer ({type(error).__name__}: {error})") from None
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        raise InteropError(f"{path}: no fast tokenizer (tokenizer.json); offsets for QA/NER need one")
    specials = {}
    for key, attribute in (("pad", "pad_token"), ("unk", "unk_token"), ("cls", "cls_token"), ("sep", "sep_token"), ("mask", "mask_token")):
        token = getattr(hf, attribute, None)
        if token is None and key in ("cls", "sep"):
            token = getattr(hf, "bos_token" if key == "cls" else "eos_token", None)
        if token is None:
            token = hf.unk_token if key in ("mask", "pad") else None
        if token is None:
            raise InteropError(f"{path}: the tokenizer has no {attribute}; it cannot build classifier inputs")
        specials[key] = str(token)
    backend.no_truncation()  # transformers folders often save a truncation/padding setting: features do their own
    backend.no_padding()
    family = "roberta" if model_type in ROBERTA_LIKE_MODEL_TYPES else "flaubert" if model_type in ("flaubert", "xlm") else "bert"
    model_kind = json.loads(backend.to_str()).get("model", {}).get("type", "unknown").lower()
    meta = {"family": family, "algorithm": model_kind, "special_tokens": specials}
    return Tokenizer(backend, meta, path), model_type


def usable_positions(config) -> int:
    """Positions a transformers model can encode: RoBERTa-style tables start after padding_idx."""
    positions = int(getattr(config, "max_position_embeddings", 512))
    if getattr(config, "model_type", "") in ROBERTA_LIKE_MODEL_TYPES:
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return positions
