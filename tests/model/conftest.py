from __future__ import annotations

import dataclasses

import pytest
import torch

from workbench.model.config import EncoderConfig


def tiny_config(**overrides) -> EncoderConfig:
    base = EncoderConfig(
        family="bert", size="tiny", vocab_size=97, hidden_size=32, num_layers=2, num_heads=4,
        intermediate_size=64, max_positions=40,
    )
    return dataclasses.replace(base, **overrides)


def masked_ids(config: EncoderConfig, seed: int, shape=(4, 16)):
    """Random token ids (above the special ids 0-4) and MLM labels at about 30% of them (-100 elsewhere)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, shape, generator=g)
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.3, ids, torch.full_like(ids, -100))
    return ids, labels


FLAVORS = {
    "bert": {},
    "roberta": dict(family="roberta", position_offset=2, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5),
    "flaubert": dict(family="flaubert", type_vocab_size=0, pooler=False, mlm_transform=False, pad_token_id=2),
    "prenorm": dict(norm_position="pre"),
    "sinusoidal_xlm": dict(family="flaubert", position_embedding="sinusoidal", num_languages=3, type_vocab_size=0,
                           pooler=False, mlm_transform=False, activation="gelu_tanh"),
}


@pytest.fixture(params=sorted(FLAVORS))
def flavor_config(request) -> EncoderConfig:
    return tiny_config(**FLAVORS[request.param])
