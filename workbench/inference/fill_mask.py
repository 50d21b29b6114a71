"""Top-k completions of every mask position of every text, with their probabilities.

The user writes the generic ``<mask>`` or the family's own mask token ([MASK] for BERT, <mask> for
RoBERTa/CamemBERT, <special1> for FlauBERT); ``<mask>`` is mapped to the tokenizer's mask token and the text is
encoded by the tokenizer as a whole (so the mask token's whitespace handling is the tokenizer's own, as in
transformers). Each mask position gets the softmax over the whole vocabulary of the model's logits at that
position (independently of the other masks, as transformers' fill-mask pipeline does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import torch

from workbench.inference.inputs import Text, pad_batch, with_specials
from workbench.inference.model_loading import InferenceError, InferenceModel

GENERIC_MASK = "<mask>"


class MissingMaskError(InferenceError):
    """A fill-mask text has no mask token."""


@dataclass
class Completion:
    token: str  # vocabulary entry
    token_id: int
    word: str  # decoded form (no subword markers)
    probability: float


@dataclass
class MaskPrediction:
    mask_index: int  # 0-based index of this mask among the text's masks
    position: int  # token position in the model input (special tokens included)
    completions: List[Completion] = field(default_factory=list)


@dataclass
class FillMaskResult:
    id: str
    text: str
    masks: List[MaskPrediction]


def with_mask_token(text: str, mask_token: str) -> str:
    """``text`` with the generic ``<mask>`` replaced by the tokenizer's own mask token."""
    return text if mask_token == GENERIC_MASK else text.replace(GENERIC_MASK, mask_token)


def encode_masked(model: InferenceModel, item: Text) -> List[int]:
    """Token ids (no special tokens) of ``item`` with its masks; clear errors for no mask or a too long text."""
    tokenizer = model.tokenizer
    mask_token = tokenizer.special_tokens.mask
    ids = tokenizer.encode(with_mask_token(item.text, mask_token))
    if tokenizer.mask_id not in ids:
        own = "" if mask_token == GENERIC_MASK else f" (or this model's own mask token {mask_token})"
        raise MissingMaskError(f"{item.where}: no mask token in {item.text!r}; write {GENERIC_MASK}{own} where a word is to be predicted")
    longest = model.max_positions - tokenizer.num_special_tokens(pair=False)
    if len(ids) > longest:
        raise InferenceError(
            f"{item.where}: the text is {len(ids)} tokens long, the model takes at most {longest}; shorten it"
        )
    return ids


def fill_mask(model: InferenceModel, texts: Sequence[Text], top_k: int = 5, batch_size: int = 32) -> List[FillMaskResult]:
    """Predictions for every mask of every text. Every text is checked before any forward pass."""
    tokenizer = model.tokenizer
    encoded = [encode_masked(model, item) for item in texts]
    k = min(top_k, tokenizer.vocab_size)
    results: List[FillMaskResult] = []
    for start in range(0, len(texts), batch_size):
        chunk = [with_specials(tokenizer, ids) for ids in encoded[start : start + batch_size]]
        batch = pad_batch(chunk, tokenizer.pad_id)
        is_mask = (batch.ids == tokenizer.mask_id) & batch.mask.bool()
        positions = torch.nonzero(is_mask.reshape(-1), as_tuple=False).squeeze(1)
        logits = model.mlm_logits(batch.ids, batch.mask, batch.types, positions)
        probabilities = torch.softmax(logits.double(), dim=-1)
        top = torch.topk(probabilities, k, dim=-1)
        seqlen = batch.ids.shape[1]
        per_row: List[List[MaskPrediction]] = [[] for _ in chunk]
        for flat, values, indices in zip(positions.tolist(), top.values.tolist(), top.indices.tolist()):
            row, position = divmod(flat, seqlen)
            completions = [
                Completion(tokenizer.id_to_token(i) or "", i, tokenizer.decode([i]).strip(), p) for p, i in zip(values, indices)
            ]
            per_row[row].append(MaskPrediction(len(per_row[row]), position, completions))
        for offset, masks in enumerate(per_row):
            item = texts[start + offset]
            results.append(FillMaskResult(item.id, item.text, masks))
    return results


def as_json(result: FillMaskResult) -> dict:
    return {
        "id": result.id,
        "text": result.text,
        "masks": [
            {
                "mask_index": m.mask_index,
                "position": m.position,
                "predictions": [
                    {"token": c.token, "token_id": c.token_id, "word": c.word, "probability": c.probability}
                    for c in m.completions
                ],
            }
            for m in result.masks
        ],
    }


def as_table(results: Sequence[FillMaskResult]) -> str:
    """Plain-text table: one block per text, one line per completion."""
    lines: List[str] = []
    for result in results:
        lines.append(f"[{result.id}] {result.text}")
        for mask in result.masks:
            label = f"  mask {mask.mask_index + 1}/{len(result.masks)}" if len(result.masks) > 1 else "  mask"
            lines.append(f"{label} (token {mask.position}):")
            for rank, c in enumerate(mask.completions, start=1):
                lines.append(f"    {rank:>2}. {c.word or c.token:<20} {c.probability:8.4f}   ({c.token}, id {c.token_id})")
    return "\n".join(lines)
