"""The fine-tuning models' fast paths compute what the plain path computes.

Fast: padding-free token-wise layers (what the fine-tuning pipeline builds) and, for sequence classification,
the last layer run at the first token only. Plain: the padded encoder over every position, then the head.
Same logits, losses and gradients up to float rounding; and the fast paths really are taken.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from tests.helpers import randomize_weights
from tests.model.conftest import tiny_config
from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerances: fast paths against the plain (or transformers') computation, float32, values of scale 0.02 to 6;
# measured differences at most 35 float32 eps of each tensor's scale (sequence logits, scalar kernels), a fifth of
# what the elementwise atol=1e-5 allows at that scale.


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # shared CPUs: spinning threads are slow (the root conftest restores the setting)


def padded_batch(config, lengths=(14, 9, 3, 11), seed=0):
    """A dynamically padded batch (right padding, as collate builds it) with token types and languages."""
    g = torch.Generator().manual_seed(seed)
    seqlen = max(lengths)
    ids = torch.randint(5, config.vocab_size, (len(lengths), seqlen), generator=g)
    mask = torch.zeros(len(lengths), seqlen, dtype=torch.long)
    types = torch.zeros(len(lengths), seqlen, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        types[row, n // 2 : n] = 1 if config.type_vocab_size > 1 else 0
    ids[mask == 0] = config.pad_token_id
    langs = torch.randint(0, max(config.num_languages, 1), ids.shape, generator=g) if config.num_languages else None
    return ids, mask, types, langs


def plain_sequence_logits(model: SequenceClassifier, ids, mask, types, langs):
    """The reference: hidden states of every position through every layer, then the head."""
    hidden = model.encoder(ids, mask, types, langs)
    pooled = model.encoder.pool(hidden) if model.head.style == "pooler" else None
    return model.head(hidden, pooled)


def twin(model: torch.nn.Module, factory) -> torch.nn.Module:
    other = factory()
    other.load_state_dict(model.state_dict())
    return other.train(model.training)


def test_sequence_classifier_fast_logits_equal_plain_path(flavor_config):
    torch.manual_seed(0)
    fast = randomize_weights(SequenceClassifier(flavor_config, 3, padding_free=True))
    plain = twin(fast, lambda: SequenceClassifier(flavor_config, 3, padding_free=False))
    ids, mask, types, langs = padded_batch(flavor_config)
    with torch.no_grad():
        got = fast(ids, mask, types, langs).logits
        expected = plain_sequence_logits(plain, ids, mask, types, langs)
    assert got.shape == (4, 3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # each row alone (no padding at all: the dense kernels) gives the same logits as inside the padded batch
    for row, n in enumerate(mask.sum(1).tolist()):
        alone = fast(ids[row : row + 1, :n], mask[row : row + 1, :n], types[row : row + 1, :n],
                     None if langs is None else langs[row : row + 1, :n]).logits
        torch.testing.assert_close(alone[0], got[row], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_labels", [3, 1])
def test_sequence_classifier_fast_loss_and_gradients_equal_plain_path(flavor_config, num_labels):
    """Training: the same loss and the same gradient for every parameter (dropout off so both are deterministic)."""
    config = dataclasses.replace(flavor_config, dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    fast = randomize_weights(SequenceClassifier(config, num_labels, padding_free=True)).train()
    plain = twin(fast, lambda: SequenceClassifier(config, num_labels, padding_free=False))
    ids, mask, types, langs = padded_batch(config)
    labels = torch.tensor([0, 2, 1, 2]) if num_labels == 3 else torch.tensor([0.5, -1.0, 2.0, 0.0])
    loss = fast(ids, mask, types, langs, labels=labels).loss
    logits = plain_sequence_logits(plain, ids, mask, types, langs)
    expected = F.cross_entropy(logits, labels) if num_labels == 3 else F.mse_loss(logits.squeeze(-1), labels)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    loss.backward()
    expected.backward()
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def rows_seen(module: torch.nn.Module, calls: list):
    """Record how many token rows ``module`` processes per call."""
    return module.register_forward_hook(lambda _m, args, _out: calls.append(args[0].numel() // args[0].shape[-1]))


def test_sequence_classifier_runs_last_layer_at_first_tokens_and_skips_padding():
    config = tiny_config(num_layers=3)
    model = SequenceClassifier(config, 2, padding_free=True).eval()
    ids, mask, types, _ = padded_batch(config)
    first, last = [], []
    hooks = [rows_seen(model.encoder.layers[0].mlp, first), rows_seen(model.encoder.layers[-1].mlp, last)]
    with torch.no_grad():
        model(ids, mask, types)
    for hook in hooks:
        hook.remove()
    assert first == [int(mask.sum())]  # 37 real tokens, not 4 x 14 padded positions
    assert last == [4]  # one position per row: the first token


def test_sequence_classifier_with_per_query_mask_uses_every_position():
    """A 4-D mask with one row per query cannot be cut to the first token: the full path, same as plain."""
    config = tiny_config()
    torch.manual_seed(0)
    model = randomize_weights(SequenceClassifier(config, 2))
    ids, mask, types, _ = padded_batch(config)
    seqlen = ids.shape[1]
    causal = torch.ones(seqlen, seqlen, dtype=torch.bool).tril()[None, None] & mask.bool()[:, None, None, :]
    with torch.no_grad():
        got = model(ids, causal, types).logits
        hidden = model.encoder(ids, causal, types)
        expected = model.head(hidden, model.encoder.pool(hidden))
    torch.testing.assert_close(got, expected)


def test_padding_free_token_classifier_equals_padded(flavor_config):
    config = dataclasses.replace(flavor_config, dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    fast = randomize_weights(TokenClassifier(config, 5, padding_free=True)).train()
    plain = twin(fast, lambda: TokenClassifier(config, 5, padding_free=False))
    assert fast.encoder.config.padding_free and not plain.encoder.config.padding_free
    ids, mask, types, langs = padded_batch(config)
    keep = mask.bool()
    labels = torch.randint(0, 5, ids.shape, generator=torch.Generator().manual_seed(1)).masked_fill(~keep, -100)
    a, b = fast(ids, mask, types, langs, labels=labels), plain(ids, mask, types, langs, labels=labels)
    torch.testing.assert_close(a.logits[keep], b.logits[keep], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=1e-5)
    a.loss.backward()
    b.loss.backward()
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_padding_free_argument_overrides_the_config_and_none_keeps_it():
    assert SequenceClassifier(tiny_config(padding_free=True), 2).encoder.config.padding_free
    assert not SequenceClassifier(tiny_config(padding_free=True), 2, padding_free=False).encoder.config.padding_free
    assert TokenClassifier(tiny_config(), 2, padding_free=True).encoder.config.padding_free
    assert not SpanExtractor(tiny_config(padding_free=True), padding_free=False).encoder.config.padding_free


def test_span_extractor_padding_free_logits_equal_padded():
    """QA logits at real tokens are the same either way (the pipeline still keeps QA padded: its loss, like
    transformers', spreads the softmax over padding positions, which padding-free sets to the bare head bias)."""
    config = tiny_config(dropout=0.0, attention_dropout=0.0)
    torch.manual_seed(0)
    plain = randomize_weights(SpanExtractor(config, padding_free=False))
    free = twin(plain, lambda: SpanExtractor(config, padding_free=True))
    ids, mask, types, _ = padded_batch(config)
    keep = mask.bool()
    with torch.no_grad():
        a, b = free(ids, mask, types), plain(ids, mask, types)
    torch.testing.assert_close(a.start_logits[keep], b.start_logits[keep], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.end_logits[keep], b.end_logits[keep], atol=1e-5, rtol=1e-5)


def test_real_checkpoint_fast_path_matches_transformers(minilm_dir, transformers, shared_data):
    """all-MiniLM-L6-v2 imported as a workbench classifier (fast paths on) and loaded by transformers as
    BertForSequenceClassification with the same head: the same logits on a padded batch of real SST-2 sentences."""
    from workbench.interop.transformers_import import import_from_transformers
    from workbench.interop.transformers_tokenizer import tokenizer_from_transformers

    imported = import_from_transformers(minilm_dir)
    torch.manual_seed(0)
    model = SequenceClassifier(imported.config, 2)
    model.encoder.load_state_dict(imported.model.state_dict())
    randomize_weights(model.head)
    model.eval()
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(str(minilm_dir), num_labels=2).eval()
    with torch.no_grad():
        reference.classifier.weight.copy_(model.head.out.weight)
        reference.classifier.bias.copy_(model.head.out.bias)
    tokenizer = tokenizer_from_transformers(minilm_dir)[0]
    lines = (shared_data / "sst2_en" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:17]
    encoded = [tokenizer.build_inputs(tokenizer.encode(line.split("\t")[0]))[0] for line in lines]
    lengths = [len(e) for e in encoded]
    assert len(set(lengths)) > 5  # real, varied lengths: the batch is padded
    ids = torch.full((len(encoded), max(lengths)), tokenizer.pad_id)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(encoded):
        ids[row, : len(e)] = torch.tensor(e)
        mask[row, : len(e)] = 1
    with torch.no_grad():
        ours = model(ids, mask, torch.zeros_like(ids)).logits
        theirs = reference(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
    assert ours.abs().max() > 0.1  # a sharp comparison, not two near-zero outputs
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
