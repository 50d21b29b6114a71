"""Behaviour of the encoder and its models: padding invariance, padding-free path, masked-only MLM, heads."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from tests.model.conftest import tiny_config
from workbench.model.encoder import Encoder, position_ids_for
from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier
from workbench.model.loading import WeightsMismatchError, load_encoder_weights
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerances: fast paths against the plain computation, float32, values of scale 1e-4 (gradients) to 146; measured
# differences at most 5 float32 eps of each tensor's scale on AVX-512, AVX2 and scalar kernels, well inside the
# elementwise atol/rtol below (1e-5 is 84 eps at scale 1). bf16 against fp32: bf16's eps is 7.8e-3, hence 0.02.


def inputs(config, batch=3, seqlen=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (batch, seqlen), generator=g)
    mask = torch.ones(batch, seqlen, dtype=torch.long)
    for row in range(1, batch):
        mask[row, seqlen - 3 * row:] = 0
    ids[mask == 0] = config.pad_token_id
    langs = torch.randint(0, max(config.num_languages, 1), (batch, seqlen), generator=g)
    return ids, mask, langs


def test_padding_does_not_change_real_tokens(flavor_config):
    torch.manual_seed(0)
    model = Encoder(flavor_config).eval()
    ids, mask, langs = inputs(flavor_config)
    out = model(ids, mask, langs=langs)
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        alone = model(ids[row : row + 1, :n], mask[row : row + 1, :n], langs=langs[row : row + 1, :n])
        torch.testing.assert_close(out[row, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_padding_free_path_equals_padded_path(flavor_config):
    torch.manual_seed(0)
    padded = Encoder(flavor_config).eval()
    free = Encoder(dataclasses.replace(flavor_config, padding_free=True)).eval()
    free.load_state_dict(padded.state_dict())
    ids, mask, langs = inputs(flavor_config)
    a = padded(ids, mask, langs=langs)
    b = free(ids, mask, langs=langs)
    keep = mask.bool()
    torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=1e-5)
    assert (b[~keep] == 0).all()
    # gradients agree too
    a[keep].square().sum().backward()
    b[keep].square().sum().backward()
    for (name, p), q in zip(padded.named_parameters(), free.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_roberta_positions_start_after_padding_idx():
    config = tiny_config(family="roberta", position_offset=2, pad_token_id=1, type_vocab_size=1)
    ids = torch.tensor([[0, 7, 8, 2, 1, 1]])
    mask = (ids != 1).long()
    assert position_ids_for(ids, mask, config).tolist() == [[2, 3, 4, 5, 1, 1]]
    assert position_ids_for(ids, None, config).tolist() == [[2, 3, 4, 5, 1, 1]]
    assert position_ids_for(ids, mask, tiny_config()).tolist() == [[0, 1, 2, 3, 4, 5]]
    encoder = Encoder(config)
    assert encoder.embeddings.position_embeddings.num_embeddings == config.max_positions + 2
    encoder(torch.full((1, config.max_positions), 9))  # the longest sequence fits the table
    with pytest.raises(ValueError, match="exceeds model.max_positions"):
        encoder(torch.full((1, config.max_positions + 1), 9))


def test_sinusoidal_positions_are_xlm_table_and_not_trained():
    config = tiny_config(position_embedding="sinusoidal")
    encoder = Encoder(config)
    table = encoder.embeddings.sinusoidal
    assert torch.allclose(table[3, 4], torch.tensor(3 / 10000 ** (4 / 32)).sin())
    assert torch.allclose(table[3, 5], torch.tensor(3 / 10000 ** (4 / 32)).cos())
    assert "embeddings.sinusoidal" not in encoder.state_dict()


def test_bert_initialization():
    torch.manual_seed(0)
    config = tiny_config(hidden_size=256, num_heads=4, intermediate_size=512, vocab_size=2000)
    model = PretrainingModel(config, nsp=True)
    weight = model.encoder.layers[0].mlp.up.weight.detach()
    assert abs(float(weight.std()) - 0.02) < 0.001 and abs(float(weight.mean())) < 0.001
    assert (model.encoder.layers[0].mlp.up.bias == 0).all()
    assert (model.encoder.layers[0].attention_norm.weight == 1).all()
    assert (model.encoder.embeddings.word_embeddings.weight[config.pad_token_id] == 0).all()
    assert (model.mlm_head.bias == 0).all()


def masked_labels(ids, mask, rate=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    chosen = (torch.rand(ids.shape, generator=g) < rate) & mask.bool()
    return torch.where(chosen, ids, torch.full_like(ids, -100))


def test_mlm_loss_at_masked_positions_equals_full_logits_loss(flavor_config):
    torch.manual_seed(0)
    model = PretrainingModel(flavor_config).eval()
    ids, mask, langs = inputs(flavor_config, batch=4, seqlen=16)
    labels = masked_labels(ids, mask)
    out = model(ids, mask, labels, langs=langs)
    full = model.mlm_head(model.encoder(ids, mask, langs=langs))  # every position
    reference = F.cross_entropy(full.view(-1, flavor_config.vocab_size), labels.view(-1), ignore_index=-100)
    torch.testing.assert_close(out.mlm_loss, reference, atol=1e-5, rtol=1e-5)
    selected = labels.view(-1) != -100
    assert int(out.mlm_count) == int(selected.sum())
    torch.testing.assert_close(out.mlm_logits, full.view(-1, flavor_config.vocab_size)[selected], atol=1e-5, rtol=1e-5)
    assert int(out.mlm_correct) == int((full.view(-1, flavor_config.vocab_size)[selected].argmax(-1) == labels.view(-1)[selected]).sum())
    assert out.nsp_loss is None


def test_no_masked_token_gives_zero_loss_and_zero_gradients():
    model = PretrainingModel(tiny_config())
    ids, mask, _ = inputs(model.config)
    out = model(ids, mask, torch.full_like(ids, -100))
    assert float(out.loss.detach()) == 0.0 and int(out.mlm_count) == 0
    out.loss.backward()
    assert all(p.grad is None or (p.grad == 0).all() for p in model.parameters())


def test_nsp_terms_and_total_loss():
    torch.manual_seed(0)
    model = PretrainingModel(tiny_config(), nsp=True).eval()
    ids, mask, _ = inputs(model.config)
    labels = masked_labels(ids, mask)
    nsp = torch.tensor([0, 1, 1])
    out = model(ids, mask, labels, token_type_ids=torch.zeros_like(ids), nsp_labels=nsp)
    logits = model.nsp_head(model.encoder.pool(model.encoder(ids, mask)))
    torch.testing.assert_close(out.nsp_loss, F.cross_entropy(logits, nsp))
    torch.testing.assert_close(out.loss, out.mlm_loss + out.nsp_loss)
    assert int(out.nsp_count) == 3 and int(out.nsp_correct) == int((logits.argmax(-1) == nsp).sum())
    with pytest.raises(ValueError, match="needs the pooler"):
        PretrainingModel(tiny_config(pooler=False), nsp=True)


def test_layerdrop_skips_layers_only_in_training():
    config = tiny_config(layerdrop=1.0, dropout=0.0, attention_dropout=0.0)
    encoder = Encoder(config)
    ids, mask, _ = inputs(config)
    encoder.train()
    skipped = encoder(ids, mask)
    embedded = encoder.embeddings(ids, position_ids_for(ids, mask, config))
    torch.testing.assert_close(skipped, embedded)  # every layer dropped
    encoder.eval()
    assert not torch.allclose(encoder(ids, mask), embedded)


def test_pre_norm_final_norm_switch():
    with_norm = Encoder(tiny_config(norm_position="pre"))
    without = Encoder(tiny_config(norm_position="pre", final_norm=False))
    assert with_norm.final_norm is not None and without.final_norm is None
    assert Encoder(tiny_config()).final_norm is None  # post-norm never has one


def test_attention_mask_forms_agree():
    torch.manual_seed(0)
    config = tiny_config()
    encoder = Encoder(config).eval()
    ids, mask, _ = inputs(config)
    a = encoder(ids, mask)
    b = encoder(ids, mask.bool())
    additive = torch.zeros(ids.shape[0], 1, 1, ids.shape[1]).masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    c = encoder(ids, additive)
    keep = mask.bool()
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[keep], c[keep], atol=1e-5, rtol=1e-5)


def test_encoder_state_loads_into_every_finetuning_model():
    torch.manual_seed(0)
    pretrained = PretrainingModel(tiny_config())  # MLM only: no pooler
    state = pretrained.state_dict()
    ids, mask, _ = inputs(pretrained.config)
    reference = pretrained.encoder.eval()(ids, mask)
    for model in (SequenceClassifier(tiny_config(), 3), TokenClassifier(tiny_config(), 5), SpanExtractor(tiny_config())):
        fresh = load_encoder_weights(model, state)
        assert all(not k.startswith("encoder.") or k.startswith("encoder.pooler.") for k in fresh)
        assert any(k.startswith("head.") for k in fresh)
        torch.testing.assert_close(model.encoder.eval()(ids, mask), reference)
    with pytest.raises(WeightsMismatchError, match="shape"):
        load_encoder_weights(TokenClassifier(tiny_config(hidden_size=64), 2), state)
    with pytest.raises(WeightsMismatchError, match="lacks encoder weights"):
        load_encoder_weights(TokenClassifier(tiny_config(), 2), {k: v for k, v in state.items() if "layers.1." not in k})


def test_finetuning_losses_follow_transformers_conventions():
    torch.manual_seed(0)
    config = tiny_config()
    ids, mask, _ = inputs(config)
    regression = SequenceClassifier(config, 1).eval()
    target = torch.tensor([0.5, 1.0, -2.0])
    out = regression(ids, mask, labels=target)
    torch.testing.assert_close(out.loss, F.mse_loss(out.logits.squeeze(-1), target))
    tagger = TokenClassifier(config, 4).eval()
    tags = torch.randint(0, 4, ids.shape).masked_fill(mask == 0, -100)
    out = tagger(ids, mask, labels=tags)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits.view(-1, 4), tags.view(-1), ignore_index=-100))
    qa = SpanExtractor(config).eval()
    start, end = torch.tensor([1, 2, 50]), torch.tensor([3, 2, 60])  # out-of-range positions are ignored
    out = qa(ids, mask, start_positions=start, end_positions=end)
    T = ids.shape[1]
    expected = (F.cross_entropy(out.start_logits[:2], start[:2]) + F.cross_entropy(out.end_logits[:2], end[:2])) / 2
    assert T < 50
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("family, style, has_pooler", [("bert", "pooler", True), ("roberta", "dense", False), ("flaubert", "first", False)])
def test_classifier_style_by_family(family, style, has_pooler):
    config = tiny_config(family=family)
    model = SequenceClassifier(config, 2)
    assert model.head.style == style
    assert (model.encoder.pooler is not None) == has_pooler
    assert hasattr(model.head, "dense") == (style == "dense")


def test_bf16_forward_backward_is_finite():
    torch.manual_seed(0)
    model = PretrainingModel(tiny_config(padding_free=True)).to(torch.bfloat16)
    ids, mask, _ = inputs(model.config)
    out = model(ids, mask, masked_labels(ids, mask))
    assert out.mlm_loss.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_vocab_size_must_be_resolved():
    with pytest.raises(ValueError, match="vocab_size is None"):
        Encoder(tiny_config(vocab_size=None))


@pytest.mark.parametrize("padding_free", [False, True])
def test_selected_last_layer_gives_dense_loss_and_gradients(flavor_config, padding_free):
    """The pretraining forward computes the last layer only at masked positions: loss and every gradient
    equal the dense computation."""
    check_selected_last_layer(flavor_config, padding_free, nsp=False)


@pytest.mark.parametrize("padding_free", [False, True])
def test_selected_last_layer_with_nsp_gives_dense_loss_and_gradients(padding_free):
    """With NSP the first token of each row is computed too (the pooler reads it)."""
    check_selected_last_layer(tiny_config(), padding_free, nsp=True)


def check_selected_last_layer(flavor_config, padding_free, nsp):
    config = dataclasses.replace(flavor_config, dropout=0.0, attention_dropout=0.0, padding_free=padding_free)
    torch.manual_seed(0)
    model = PretrainingModel(config, nsp=nsp).train()
    ids, mask, langs = inputs(config, batch=4, seqlen=16)
    labels = masked_labels(ids, mask, rate=0.2)
    nsp_labels = torch.tensor([0, 1, 0, 1]) if nsp else None
    out = model(ids, mask, labels, langs=langs, nsp_labels=nsp_labels)
    sparse_grads = torch.autograd.grad(out.loss, list(model.parameters()))

    hidden = model.encoder(ids, mask, langs=langs)  # dense: every position through every layer
    logits = model.mlm_head(hidden, labels != -100)
    dense = F.cross_entropy(logits, labels[labels != -100])
    if nsp:
        dense = dense + F.cross_entropy(model.nsp_head(model.encoder.pool(hidden)), nsp_labels)
    dense_grads = torch.autograd.grad(dense, list(model.parameters()))
    torch.testing.assert_close(out.loss, dense, atol=1e-5, rtol=1e-5)
    for (name, _), a, b in zip(model.named_parameters(), sparse_grads, dense_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_output_positions_with_every_layer_dropped():
    config = tiny_config(layerdrop=1.0, dropout=0.0)
    encoder = Encoder(config).train()
    ids, mask, _ = inputs(config)
    positions = torch.tensor([1, 5, 14, 20])
    out = encoder(ids, mask, output_positions=positions)
    embedded = encoder.embeddings.eval()(ids, position_ids_for(ids, mask, config))
    torch.testing.assert_close(out, embedded.reshape(-1, config.hidden_size)[positions])


@pytest.mark.parametrize("padding_free", [False, True])
def test_bf16_autocast_matches_fp32(padding_free):
    torch.manual_seed(0)
    config = tiny_config(padding_free=padding_free, dropout=0.0, attention_dropout=0.0)
    model = PretrainingModel(config, nsp=True).train()
    ids, mask, _ = inputs(config)
    labels = masked_labels(ids, mask)
    nsp = torch.tensor([0, 1, 1])
    reference = model(ids, mask, labels, nsp_labels=nsp)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, mask, labels, nsp_labels=nsp)
    assert out.mlm_logits.dtype == torch.bfloat16 and out.mlm_loss.dtype == torch.float32
    torch.testing.assert_close(out.loss, reference.loss, atol=0.05, rtol=0.02)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
