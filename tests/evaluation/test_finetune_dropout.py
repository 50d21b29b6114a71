"""finetune.dropout / finetune.attention_dropout: the fine-tuning dropout replaces the model's own (a model
pretrained with dropout 0 otherwise fine-tunes with none), for workbench and transformers folders, for both
inits, without touching the weights, and splits the job identity only when set."""

from __future__ import annotations

import pytest
import torch

from workbench.config.choices import ConfigError
from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.dropout import Dropout
from workbench.evaluation.hyperparameters import resolve_hyperparameters
from workbench.evaluation.models import load_for_task


def _dropout_probabilities(module: torch.nn.Module):
    return sorted({m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)})


@pytest.mark.parametrize("init", ["pretrained", "random"])
def test_workbench_model_fine_tunes_with_the_dropout_asked_for(tiny_model_dir, init):
    torch.manual_seed(0)
    own = load_for_task(tiny_model_dir, "classification", 2, init)  # the fixture's config has dropout 0
    torch.manual_seed(0)
    changed = load_for_task(tiny_model_dir, "classification", 2, init, Dropout(hidden=0.1, attention=0.05))
    classifier = changed.model.model
    assert own.model.model.config.dropout == 0.0 and own.model.model.config.attention_dropout == 0.0
    assert classifier.config.dropout == 0.1 and classifier.config.attention_dropout == 0.05
    assert classifier.encoder.config.dropout == 0.1 and classifier.encoder.config.attention_dropout == 0.05
    # the weights (encoder and the seeded head) are the same: dropout has no parameters
    reference = own.model.model.state_dict()
    assert all(torch.equal(reference[k], v) for k, v in classifier.state_dict().items())
    assert changed.checkpoint_hash == own.checkpoint_hash  # same weights (or architecture): the same row
    # and it is in effect: in training mode two passes over one batch differ only with dropout on
    batch = {"input_ids": torch.randint(5, 1000, (4, 16)), "attention_mask": torch.ones(4, 16, dtype=torch.long),
             "token_type_ids": torch.zeros(4, 16, dtype=torch.long),
             "labels": torch.tensor([0, 1, 0, 1])}
    for loaded, differ in ((own, False), (changed, True)):
        loaded.model.train()
        first, second = loaded.model(batch).logits, loaded.model(batch).logits
        assert (not torch.equal(first, second)) == differ


def test_transformers_model_gets_its_own_dropout_keys(minilm_dir):
    loaded = load_for_task(minilm_dir, "classification", 2, "pretrained", Dropout(hidden=0.25, attention=0.0))
    config = loaded.model.model.config
    assert config.hidden_dropout_prob == 0.25 and config.attention_probs_dropout_prob == 0.0
    assert 0.25 in _dropout_probabilities(loaded.model.model)
    default = load_for_task(minilm_dir, "classification", 2)
    assert default.model.model.config.hidden_dropout_prob == 0.1  # MiniLM's own value, untouched by default


def test_dropout_is_part_of_the_job_identity_only_when_set():
    task = TaskConfig(name="t", train="train.tsv", dev="dev.tsv")
    unset = resolve_hyperparameters(task, FinetuneConfig())
    assert "dropout" not in unset.as_dict() and "attention_dropout" not in unset.as_dict()  # jobs stored before keep their hash
    set_ = resolve_hyperparameters(task, FinetuneConfig(dropout=0.1))
    assert set_.as_dict()["dropout"] == 0.1 and "attention_dropout" not in set_.as_dict()


def test_a_dropout_outside_0_1_names_the_key():
    with pytest.raises(ConfigError, match="finetune.dropout"):
        FinetuneConfig(dropout=1.5)
    with pytest.raises(ConfigError, match="finetune.attention_dropout"):
        FinetuneConfig(attention_dropout=-0.1)
