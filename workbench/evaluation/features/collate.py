"""Dynamic padding: a batch is padded to its own longest feature (rounded up to ``pad_to_multiple_of``)."""

from __future__ import annotations

from typing import Dict, Sequence

import torch

from workbench.evaluation.features.feature import IGNORE_INDEX, Feature


def collate(features: Sequence[Feature], pad_id: int, pad_to_multiple_of: int = 1) -> Dict[str, torch.Tensor]:
    """Tensors ``input_ids``, ``attention_mask``, ``token_type_ids`` ``[B, T]`` plus the labels the features carry:
    ``labels`` ``[B]`` (sequence) or ``[B, T]`` padded with -100 (tokens), ``start_positions``/``end_positions`` ``[B]``."""
    if not features:
        raise ValueError("cannot collate an empty batch")
    longest = max(len(f) for f in features)
    length = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    batch = len(features)
    input_ids = torch.full((batch, length), pad_id, dtype=torch.long)
    types = torch.zeros((batch, length), dtype=torch.long)
    mask = torch.zeros((batch, length), dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature)
        input_ids[row, :n] = torch.tensor(feature.input_ids, dtype=torch.long)
        types[row, :n] = torch.tensor(feature.token_type_ids, dtype=torch.long)
        mask[row, :n] = 1
    out = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}
    first = features[0]
    if first.label is not None:
        out["labels"] = torch.tensor([f.label for f in features], dtype=torch.long)
    elif first.token_labels is not None:
        labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)
        for row, feature in enumerate(features):
            labels[row, : len(feature)] = torch.tensor(feature.token_labels, dtype=torch.long)
        out["labels"] = labels
    elif first.start_position is not None:
        out["start_positions"] = torch.tensor([f.start_position for f in features], dtype=torch.long)
        out["end_positions"] = torch.tensor([f.end_position for f in features], dtype=torch.long)
    return out
