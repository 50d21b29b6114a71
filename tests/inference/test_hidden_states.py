"""``all_hidden_states`` mirrors ``Encoder.forward``: its last entry equals the encoder's output (to float32 rounding)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from tests.inference.conftest import tiny_config
from workbench.inference.hidden_states import all_hidden_states
from workbench.model.encoder import Encoder

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

VARIANTS = {
    "post_norm": {},
    "post_norm_padding_free": {"padding_free": True},
    "pre_norm_final_norm": {"norm_position": "pre", "final_norm": True},
    "pre_norm_padding_free": {"norm_position": "pre", "final_norm": True, "padding_free": True},
    "bert_types": {"family": "bert", "position_offset": 0, "pad_token_id": 0, "type_vocab_size": 2},
}


def batch(config):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, config.vocab_size, (3, 13), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 3:] = 0
    ids[mask == 0] = config.pad_token_id
    types = torch.zeros_like(ids)
    if config.type_vocab_size > 1:
        types[:, 6:] = 1
    return ids, mask, types


@pytest.mark.parametrize("name", VARIANTS)
def test_last_state_equals_encoder_forward(name):
    config = tiny_config(97, 1, **VARIANTS[name])
    encoder = randomize_weights(Encoder(config))
    ids, mask, types = batch(config)
    with torch.no_grad():
        states = all_hidden_states(encoder, ids, mask, types)
        reference = encoder(ids, mask, types)
        unpadded = all_hidden_states(encoder, ids[:1], mask[:1], types[:1])  # no padding: the unmasked path
        reference_unpadded = encoder(ids[:1], mask[:1], types[:1])
    assert len(states) == config.num_layers + 1
    keep = mask.bool()
    # the same layers called the same way: a few roundings at most (measured 0 on AVX-512, AVX2 and scalar kernels;
    # 1e-6 of the states' scale is 8 float32 eps)
    assert_close_scaled(states[-1][keep], reference[keep], 1e-6, "last state")
    assert_close_scaled(unpadded[-1], reference_unpadded, 1e-6, "last state without padding")
    # an intermediate state is what a truncated encoder returns
    short = Encoder(dataclasses.replace(config, num_layers=2, norm_position="post")).eval()
    if config.norm_position == "post":
        short.load_state_dict({k: v for k, v in encoder.state_dict().items() if not k.startswith("layers.") or int(k.split(".")[1]) < 2})
        with torch.no_grad():
            assert_close_scaled(states[2][keep], short(ids, mask, types)[keep], 1e-6, "intermediate state")


def test_training_mode_is_refused():
    encoder = Encoder(tiny_config(97, 1))
    with pytest.raises(ValueError, match="eval"):
        all_hidden_states(encoder, torch.tensor([[0, 5, 2]]))
