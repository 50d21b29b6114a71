"""``Encoder(..., output_hidden_states=True)``: every layer's output, what ``inference/hidden_states.py`` gave.

That module re-ran ``Encoder.forward``'s steps by hand; its algorithm is kept here as the reference
(``_old_all_hidden_states``, the same steps with the layers' layout argument), and the states are also compared
with transformers' ``output_hidden_states`` of the exported model and with truncated encoders.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import pytest
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from tests.inference.conftest import tiny_config
from workbench.model.encoder import Encoder, position_ids_for
from workbench.model.padding import Padded, pad_input, padding_mask_for_sdpa, unpadding_of

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


def _old_all_hidden_states(
    encoder: Encoder, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], token_type_ids: torch.Tensor
) -> List[torch.Tensor]:
    """The former ``workbench.inference.hidden_states.all_hidden_states`` (eval mode), step by step."""
    config = encoder.config
    batch_size, seqlen = input_ids.shape
    position_ids = position_ids_for(input_ids, attention_mask, config)
    if attention_mask is not None and attention_mask.dim() == 2 and bool(attention_mask.bool().all()):
        attention_mask = None
    attn_mask = padding_mask_for_sdpa(attention_mask)
    states: List[torch.Tensor] = []
    if config.padding_free and attention_mask is not None and attention_mask.dim() == 2:
        plan = unpadding_of(attention_mask)

        def gather(t):
            return None if t is None else t.reshape(-1)[plan.indices]

        x = encoder.embeddings(gather(input_ids), gather(position_ids), gather(token_type_ids), None)
        states.append(x)
        for layer in encoder.layers:
            x = layer(x, plan)
            states.append(x)
        if encoder.final_norm is not None:
            states[-1] = encoder.final_norm(states[-1])
        return [pad_input(s, plan.indices, batch_size, seqlen) for s in states]
    layout = Padded(attn_mask)
    x = encoder.embeddings(input_ids, position_ids, token_type_ids, None)
    states.append(x)
    for layer in encoder.layers:
        x = layer(x, layout)
        states.append(x)
    if encoder.final_norm is not None:
        states[-1] = encoder.final_norm(states[-1])
    return states


@pytest.mark.parametrize("name", VARIANTS)
def test_hidden_states_equal_the_former_step_by_step_computation(name):
    config = tiny_config(97, 1, **VARIANTS[name])
    encoder = randomize_weights(Encoder(config))
    ids, mask, types = batch(config)
    with torch.no_grad():
        for rows in (slice(None), slice(0, 1)):  # with padding, and without (the unmasked path)
            states = encoder(ids[rows], mask[rows], types[rows], output_hidden_states=True)
            reference = _old_all_hidden_states(encoder, ids[rows], mask[rows], types[rows])
            assert len(states) == len(reference) == config.num_layers + 1
            for layer, (ours, theirs) in enumerate(zip(states, reference)):
                assert torch.equal(ours, theirs), f"state {layer}"  # the same operations in the same order


@pytest.mark.parametrize("name", VARIANTS)
def test_last_state_equals_encoder_forward(name):
    config = tiny_config(97, 1, **VARIANTS[name])
    encoder = randomize_weights(Encoder(config))
    ids, mask, types = batch(config)
    with torch.no_grad():
        states = encoder(ids, mask, types, output_hidden_states=True)
        reference = encoder(ids, mask, types)
        unpadded = encoder(ids[:1], mask[:1], types[:1], output_hidden_states=True)  # no padding: the unmasked path
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


@pytest.mark.parametrize("padding_free", [False, True])
def test_hidden_states_match_transformers(transformers, padding_free):
    from workbench.interop.transformers_export import to_transformers_model

    config = tiny_config(97, 1, padding_free=padding_free)
    encoder = randomize_weights(Encoder(config, add_pooler=False))
    ids, mask, _ = batch(config)
    with torch.no_grad():
        ours = encoder(ids, mask, output_hidden_states=True)
        theirs = to_transformers_model(encoder)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    keep = mask.bool()
    assert len(ours) == len(theirs) == config.num_layers + 1
    # another implementation of the same float32 function: other summation orders; relative to each state's scale,
    # like tests/interop/test_real_checkpoint.py's RTOL (measured there up to 7 float32 eps; 1e-5 = 84 eps)
    for layer, (a, b) in enumerate(zip(ours, theirs)):
        assert_close_scaled(a[keep], b[keep], 1e-5, f"state {layer}")


def test_training_mode_is_refused():
    encoder = Encoder(tiny_config(97, 1))
    with pytest.raises(ValueError, match="eval"):
        encoder(torch.tensor([[0, 5, 2]]), output_hidden_states=True)


def test_selected_positions_and_hidden_states_are_exclusive():
    encoder = Encoder(tiny_config(97, 1)).eval()
    with pytest.raises(ValueError, match="output_positions=None"):
        encoder(torch.tensor([[0, 5, 2]]), output_positions=torch.tensor([1]), output_hidden_states=True)
