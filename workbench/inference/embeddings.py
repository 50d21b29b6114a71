"""Contextual token embeddings and sentence embeddings.

Token vectors come from one hidden state or a combination of the last four layers (the feature-based choices
of the BERT paper, section 5.3: last hidden layer, sum of the last four, concatenation of the last four).
Sentence vectors pool them: ``mean`` over the real tokens (padding excluded; special tokens included, as
sentence-transformers does) or ``cls`` (the first token). Padding never changes a text's vector: attention
ignores padded keys and pooling ignores padded positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np
import torch

from workbench.inference.inputs import Text, pad_batch, with_specials
from workbench.inference.model_loading import InferenceError, InferenceModel


@dataclass
class TokenEmbeddings:
    id: str
    tokens: List[str]  # model input tokens, special tokens included
    vectors: np.ndarray  # [len(tokens), D] float32


def combine_layers(states: Sequence[torch.Tensor], layers: str, layer: Optional[int] = None) -> torch.Tensor:
    """``[B, T, D]`` token vectors from the ``num_layers + 1`` hidden states (index 0: embedding output)."""
    if layer is not None:
        if not 0 <= layer < len(states):
            raise InferenceError(f"embed.layer={layer}: the model has hidden states 0..{len(states) - 1} (0 = embeddings)")
        return states[layer]
    if layers == "last":
        return states[-1]
    if len(states) < 5:
        raise InferenceError(f"embed.layers={layers} needs 4 layers; the model has {len(states) - 1}")
    if layers == "sum_last_four":
        return torch.stack(list(states[-4:]), dim=0).sum(dim=0)
    if layers == "concat_last_four":
        return torch.cat(list(states[-4:]), dim=-1)
    raise InferenceError(f"embed.layers={layers!r} is not valid; choose one of: last, sum_last_four, concat_last_four")


def pool(tokens: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[B, D]`` sentence vectors from ``[B, T, D]`` token vectors and the ``[B, T]`` keep-mask."""
    if pooling == "cls":
        return tokens[:, 0]
    if pooling == "mean":
        keep = mask.to(tokens.dtype).unsqueeze(-1)
        summed = (tokens * keep).sum(dim=1)
        return summed / keep.sum(dim=1).clamp(min=1.0)
    raise InferenceError(f"embed.pooling={pooling!r} does not give one vector per text; choose mean or cls")


def _encoded(model: InferenceModel, texts: Sequence[Text]) -> List[List[int]]:
    tokenizer = model.tokenizer
    longest = model.max_positions - tokenizer.num_special_tokens(pair=False)
    out = []
    for item in texts:
        ids = tokenizer.encode(item.text)
        if len(ids) > longest:
            raise InferenceError(f"{item.where}: the text is {len(ids)} tokens long, the model takes at most {longest}; shorten it")
        out.append(ids)
    return out


def _batches(model: InferenceModel, texts: Sequence[Text], batch_size: int):
    tokenizer = model.tokenizer
    encoded = _encoded(model, texts)
    for start in range(0, len(texts), batch_size):
        chunk = [with_specials(tokenizer, ids) for ids in encoded[start : start + batch_size]]
        yield start, chunk, pad_batch(chunk, tokenizer.pad_id)


def sentence_embeddings(
    model: InferenceModel, texts: Sequence[Text], layers: str = "last", layer: Optional[int] = None,
    pooling: str = "mean", batch_size: int = 32,
) -> np.ndarray:
    """``[len(texts), D]`` float32 sentence vectors."""
    parts = []
    for _, _, batch in _batches(model, texts, batch_size):
        states = model.hidden_states(batch.ids, batch.mask, batch.types)
        parts.append(pool(combine_layers(states, layers, layer), batch.mask, pooling).float().numpy())
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)


def token_embeddings(
    model: InferenceModel, texts: Sequence[Text], layers: str = "last", layer: Optional[int] = None, batch_size: int = 32,
) -> List[TokenEmbeddings]:
    """One ``[tokens, D]`` array per text (padding removed)."""
    tokenizer = model.tokenizer
    out: List[TokenEmbeddings] = []
    for start, chunk, batch in _batches(model, texts, batch_size):
        vectors = combine_layers(model.hidden_states(batch.ids, batch.mask, batch.types), layers, layer).float()
        for row, (ids, _) in enumerate(chunk):
            tokens = [tokenizer.id_to_token(i) or "" for i in ids]
            out.append(TokenEmbeddings(texts[start + row].id, tokens, vectors[row, : len(ids)].numpy().copy()))
    return out


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    denominator = np.linalg.norm(a64) * np.linalg.norm(b64)
    return float(a64 @ b64 / denominator) if denominator > 0 else 0.0
