"""Issue #8: fill-mask on a model pretrained BY WORKBENCH on real French prose ranks a plausible frequent word first.

The model is built through the real stages (tokenizer -> prepare -> train -> fill-mask) on six ELTeC novels
(~2 MB of ../shared/data/french_prose, read in place). The clozes ask for the negation particle between a subject
pronoun and its verb (``Je <mask> sais pas.``): the first syntactic pattern a tiny encoder picks up from this
prose once it leaves the unigram plateau. Each top-1 completion must be the plausible word, and far more probable
than under the same model before training (the exact initial weights of the run: same seed, same architecture).

The settings are the ones with which a 2-layer, 64-wide encoder left that plateau within ~1M tokens in our runs:
16-token sequences, a 1000-entry vocabulary, 40% masking, untied output embeddings, a high peak learning rate held
up by a square-root decay. With 32- or 64-token sequences, or 15% masking, the same budget still predicted commas.
"""

from __future__ import annotations

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.artifacts.model_folder import load_model_folder, save_model_folder
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.model.pretraining import PretrainingModel
from workbench.stages.fill_mask import fill_mask_stage
from workbench.stages.prepare import prepare_shards
from workbench.stages.tokenizer import train_vocabulary
from workbench.stages.train import train
from workbench.training.metrics_log import read_metrics

NOVELS = "eltec_fra_plain1/FRA00[1-4]*.txt"  # Adam (2), Audoux, Aimard (2), Allais: 2.1 MB, ~14k paragraphs

# cloze -> the plausible completions. With seeds 0, 1 and 2 each top-1 was "ne" at p >= 0.33, about 0.2 or more ahead of the
# runner-up ("me", "se", "vous"); "Il <mask> fallait pas." was left out: seed 2 puts "se"/"me" first (Il me fallait).
CLOZES = {
    "Je <mask> sais pas.": {"ne"},
    "Tu <mask> comprends pas ?": {"ne"},
    "Elle <mask> pouvait pas dormir.": {"ne"},
    "Vous <mask> comprenez pas ?": {"ne"},
}
MIN_GAIN = 100.0  # top-1 probability after training / probability of the same token before training (~1e-3)


def _compose(overrides):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name="train", overrides=overrides))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, shared_data):
    corpus = shared_data / "french_prose" / NOVELS
    tmp = tmp_path_factory.mktemp("cloze")
    overrides = [
        # vocabulary: SentencePiece BPE with CamemBERT's special tokens, small enough for a tiny model
        "tokenizer=sample_sentencepiece", "tokenizer.name=eltec-1k", "tokenizer.vocab_size=1000", "tokenizer.fairseq_dict_counts=false",
        "corpus=french_prose_eltec", f"corpus.sources.0.path='{corpus}'",
        "packing.max_seq_len=16",
        # a 2-layer, 64-wide pre-norm CamemBERT-style encoder
        "+model=camembert_tiny", "model.hidden_size=64", "model.num_heads=2", "model.num_layers=2", "model.intermediate_size=128",
        "model.norm_position=pre", "model.dropout=0.0", "model.attention_dropout=0.0",
        "model.tie_word_embeddings=false", "model.mlm_transform=false",
        "trainer=quickstart", "trainer.max_steps=1500", "trainer.global_batch_size=64", "trainer.micro_batch_size=64",
        "trainer.optimizer.lr=5e-3", "trainer.scheduler.name=polynomial", "trainer.scheduler.power=0.5",
        "trainer.scheduler.warmup_steps=30",
        "trainer.objective.mlm_probability=0.4", "trainer.eval_every=0", "trainer.log_every=100",
        "trainer.checkpoint_every=1500", "trainer.keep_last=1", "trainer.export_transformers=false", "hardware.num_threads=1", "seed=0",
        "run_name=cloze", f"run_dir={tmp}/runs/cloze",
        f"paths.tokenizers={tmp}/tokenizers", f"paths.shards={tmp}/shards", f"paths.runs={tmp}/runs",
    ]
    cfg = _compose(overrides)
    train_vocabulary(cfg)
    prepare_shards(cfg)
    train(cfg)
    return tmp, cfg


def _fill_mask(cfg, model_dir, texts_file, output):
    """The fill-mask stage over ``texts_file`` with every vocabulary entry ranked: per text, the predictions of its mask."""
    cfg.fill_mask.model = str(model_dir)
    cfg.fill_mask.input_file = str(texts_file)
    cfg.fill_mask.output = str(output)
    cfg.fill_mask.top_k = 1_000_000  # capped at the vocabulary size: the whole distribution
    fill_mask_stage(cfg)
    return [json.loads(line)["masks"][0]["predictions"] for line in output.read_text(encoding="utf-8").splitlines()]


def _untrained_copy(model_dir, seed, out):
    """The run's weights before its first step: the training loop seeds torch with cfg.seed, then builds the model."""
    loaded = load_model_folder(model_dir)
    torch.manual_seed(seed)
    model = PretrainingModel(loaded.encoder_config)
    return save_model_folder(out, model.state_dict(), loaded.encoder_config, model_dir / "tokenizer", {"note": "step 0 of the run"})


@pytest.mark.slow
def test_workbench_pretrained_model_fills_french_clozes(pretrained, tmp_path):
    tmp, cfg = pretrained
    run = tmp / "runs" / "cloze"
    losses = [row["loss"] for row in read_metrics(run, "train")]  # one step's loss every 100 steps
    assert len(losses) == 15 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses

    texts = tmp_path / "clozes.txt"
    texts.write_text("\n".join(CLOZES) + "\n", encoding="utf-8")
    trained = _fill_mask(cfg, run / "model", texts, tmp_path / "trained.jsonl")
    untrained = _fill_mask(cfg, _untrained_copy(run / "model", cfg.seed, tmp_path / "step-0"), texts, tmp_path / "untrained.jsonl")
    for (cloze, plausible), after, before in zip(CLOZES.items(), trained, untrained):
        assert len(after) == len(before) == cfg.tokenizer.vocab_size
        top = after[0]
        assert top["word"] in plausible, (cloze, [(p["word"], round(p["probability"], 3)) for p in after[:5]])
        (initial,) = [p["probability"] for p in before if p["token_id"] == top["token_id"]]
        assert top["probability"] >= MIN_GAIN * initial, (cloze, top, initial)
