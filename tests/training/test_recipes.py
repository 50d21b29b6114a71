"""The published pretraining recipes compose into the typed config with the papers' numbers."""

from __future__ import annotations

import pytest

from workbench.artifacts.layout import shards_dir
from workbench.training.schedule import lr_multiplier

from .conftest import compose_config


def _experiment(name: str, *extra: str):
    return compose_config("pipeline", [f"+experiment={name}", *extra])


def test_bert_two_phases_share_one_run_and_one_schedule():
    phase1, phase2 = _experiment("bert_base_phase1"), _experiment("bert_base_phase2")
    for cfg in (phase1, phase2):
        t = cfg.trainer
        assert (t.global_batch_size, t.max_steps, t.optimizer.lr, t.optimizer.betas, t.optimizer.weight_decay) == (256, 1_000_000, 1e-4, [0.9, 0.999], 0.01)
        assert (t.scheduler.name, t.scheduler.warmup_steps) == ("linear", 10_000)
        assert t.objective.nsp and t.objective.masking == "static" and cfg.packing.mode == "sentence_pairs"
        assert cfg.model.family == "bert" and cfg.model.hidden_size == 768 and cfg.tokenizer.algorithm == "wordpiece"
    assert phase1.run_name == phase2.run_name
    assert (phase1.packing.max_seq_len, phase1.trainer.stop_at_step) == (128, 900_000)
    assert (phase2.packing.max_seq_len, phase2.trainer.stop_at_step) == (512, None)
    assert shards_dir(phase1) != shards_dir(phase2)
    # one linear schedule over 1M steps: phase 2 starts at 10% of the peak and decays to 0
    assert lr_multiplier(900_000, phase2.trainer.scheduler, phase2.trainer.max_steps) == pytest.approx(100_000 / 990_000, rel=1e-4)


@pytest.mark.parametrize(
    "experiment, family, algorithm, lr, betas, eps, schedule, warmup, batch, steps",
    [
        ("camembert_base", "camembert", "sentencepiece_bpe", 7e-4, [0.9, 0.98], 1e-6, "polynomial", 10_000, 8192, 100_000),
        ("roberta_base", "roberta", "byte_bpe", 6e-4, [0.9, 0.98], 1e-6, "polynomial", 24_000, 8192, 500_000),
        ("flaubert_base", "flaubert", "moses_bpe", 6e-4, [0.9, 0.98], 1e-6, "inverse_sqrt", 24_000, 8192, 500_000),
    ],
)
def test_roberta_family_recipes(experiment, family, algorithm, lr, betas, eps, schedule, warmup, batch, steps):
    cfg = _experiment(experiment)
    t = cfg.trainer
    assert (cfg.model.family, cfg.model.hidden_size, cfg.tokenizer.algorithm) == (family, 768, algorithm)
    assert (t.optimizer.lr, t.optimizer.betas, t.optimizer.eps, t.optimizer.weight_decay) == (lr, betas, eps, 0.01)
    assert (t.scheduler.name, t.scheduler.warmup_steps, t.global_batch_size, t.max_steps) == (schedule, warmup, batch, steps)
    assert (cfg.packing.mode, cfg.packing.max_seq_len) == ("full_sentences", 512)
    assert t.objective.masking == "dynamic" and not t.objective.nsp
    assert t.objective.whole_word == (family == "camembert")


def test_micro_batch_is_a_hardware_override_that_keeps_the_global_batch():
    cfg = _experiment("camembert_base", "trainer.micro_batch_size=16")
    assert (cfg.trainer.micro_batch_size, cfg.trainer.global_batch_size) == (16, 8192)


def test_stop_at_step_beyond_max_steps_is_rejected_with_the_key():
    with pytest.raises(Exception, match=r"trainer.stop_at_step=20 must be in \[1, trainer.max_steps=10\]"):
        compose_config("pipeline", ["trainer.max_steps=10", "trainer.stop_at_step=20"])
