"""Fine-tuning's speed paths do not change its results beyond float rounding.

The loop's pieces (length-grouped batches of real SST-2 features, dynamic padding, fused AdamW, warmup +
linear decay, gradient clipping) train a classifier through its fast paths (padding-free layers, last layer
at the first token only) and a twin through the plain path (padded layers, every position): the same
losses at every step and the same weights at the end.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from workbench.evaluation.config import TaskConfig
from workbench.evaluation.features import featurize
from workbench.evaluation.features.batching import length_grouped_batches
from workbench.evaluation.features.collate import collate
from workbench.evaluation.models import TaskModel
from workbench.training.config import OptimizerConfig
from workbench.training.optimizer import build_optimizer
from workbench.training.schedule import finetune_lr_multiplier as lr_multiplier
from workbench.evaluation.readers import load_task
from workbench.model.config import EncoderConfig
from workbench.model.finetuning import ClassifierOutput, SequenceClassifier

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerances: weights and logits after fine-tuning by the fast and plain paths, float32, values of scale 3e-3 to
# 0.03: measured differences at most 4e-8 (91 eps of the scale), far inside atol=1e-5/1e-6.


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # shared CPUs: spinning threads are slow (the root conftest restores the setting)


class PlainSequenceClassifier(SequenceClassifier):
    """The reference: every position through every (padded) layer, then the head."""

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, langs=None, labels=None):
        hidden = self.encoder(input_ids, attention_mask, token_type_ids, langs)
        pooled = self.encoder.pool(hidden) if self.head.style == "pooler" else None
        logits = self.head(hidden, pooled)
        return ClassifierOutput(logits, None if labels is None else F.cross_entropy(logits.float(), labels))


def sst2_features(shared_data, wordpiece, n):
    task = TaskConfig(name="sst2", language="en", format="tsv", text_column="sentence",
                      train=str(shared_data / "sst2_en" / "train.tsv"), dev=str(shared_data / "sst2_en" / "dev.tsv"),
                      max_train_examples=n, max_eval_examples=32)
    data = load_task(task)
    return featurize(task, data.train, wordpiece, data.labels), featurize(task, data.dev, wordpiece, data.labels)


def train(model: torch.nn.Module, features, pad_id: int, steps: int, batch_size: int = 16):
    optimizer = build_optimizer(list(model.named_parameters()), OptimizerConfig(lr=1e-3, weight_decay=0.01, betas=[0.9, 0.999], eps=1e-8))
    assert optimizer.defaults["fused"]  # Trainer's default adamw_torch_fused
    batches = length_grouped_batches([len(f) for f in features], batch_size, seed=0, epoch=0)[:steps]
    losses = []
    model.train()
    for step, indices in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * lr_multiplier(step, steps, 1, "linear")
        loss = model(collate([features[i] for i in indices], pad_id, pad_to_multiple_of=8)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_fast_and_plain_paths_fine_tune_to_the_same_weights(shared_data, wordpiece):
    config = EncoderConfig(size="tiny", vocab_size=wordpiece.vocab_size, hidden_size=32, num_layers=2, num_heads=4,
                           intermediate_size=64, max_positions=128, dropout=0.0, attention_dropout=0.0)
    train_features, dev_features = sst2_features(shared_data, wordpiece, 96)
    lengths = [len(f) for f in train_features]
    assert max(lengths) > 2 * min(lengths)  # real sentence lengths: dynamic padding leaves padding to skip
    torch.manual_seed(0)
    fast = SequenceClassifier(config, 2, padding_free=True)
    plain = PlainSequenceClassifier(config, 2, padding_free=False)
    plain.load_state_dict(fast.state_dict())
    wrap = lambda m: TaskModel(m, "workbench", "classification", m.encoder)  # the loop's forward(batch)
    fast_losses = train(wrap(fast), train_features, wordpiece.pad_id, steps=6)
    plain_losses = train(wrap(plain), train_features, wordpiece.pad_id, steps=6)
    assert fast_losses[-1] != fast_losses[0]  # it trained
    assert fast_losses == pytest.approx(plain_losses, rel=1e-5, abs=1e-6)
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    fast.eval(), plain.eval()
    with torch.no_grad():
        dev = collate(dev_features, wordpiece.pad_id, 8)
        torch.testing.assert_close(wrap(fast)(dev).logits, wrap(plain)(dev).logits, atol=1e-5, rtol=1e-5)


def test_fused_adamw_follows_the_reference_adamw():
    """build_optimizer's fused kernel: the same updates as torch's reference (for-loop) AdamW with the same
    decay groups (no decay on biases and norms)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3))
    twin = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3))
    twin.load_state_dict(model.state_dict())
    initial = [p.detach().clone() for p in model.parameters()]
    fused = build_optimizer(list(model.named_parameters()), OptimizerConfig(lr=1e-2, weight_decay=0.1, betas=[0.9, 0.98], eps=1e-6))
    groups = [{"params": [p for p in twin.parameters() if p.ndim >= 2], "weight_decay": 0.1},
              {"params": [p for p in twin.parameters() if p.ndim < 2], "weight_decay": 0.0}]
    reference = torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.98), eps=1e-6, foreach=False)
    assert fused.defaults["fused"] and [len(g["params"]) for g in fused.param_groups] == [2, 4]
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    for step in range(5):
        for m, optimizer in ((model, fused), (twin, reference)):
            optimizer.zero_grad()
            m(x * (step + 1)).square().mean().backward()
            optimizer.step()
    for a, b, before in zip(model.parameters(), twin.parameters(), initial):
        assert (a - before).abs().max() > 1e-3  # every tensor moved
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_pipeline_builds_padding_free_classifiers_and_padded_qa(tiny_model_dir):
    """What ``eval`` fine-tunes: classifiers padding-free (the tiny model folder's config says padded), QA padded
    (its loss covers padding positions, like transformers')."""
    from workbench.evaluation.models import load_for_task

    assert not json.loads((tiny_model_dir / "model_config.json").read_text(encoding="utf-8"))["padding_free"]
    for kind, padding_free in (("classification", True), ("pair_classification", True),
                               ("token_classification", True), ("extractive_qa", False)):
        assert load_for_task(tiny_model_dir, kind, 3).model.encoder.config.padding_free is padding_free, kind
