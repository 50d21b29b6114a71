"""finetune.init=random: the family's initialisation of the same architecture and tokenizer, seeded by the job's
seed, stored as its own leaderboard row beside the pretrained one."""

from __future__ import annotations

import pytest
import torch

from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.models import load_for_task
from workbench.evaluation.results_db import ResultsDB
from workbench.training.config import HardwareConfig

ONE_THREAD = HardwareConfig(num_threads=1)


def _encoder_state(loaded):
    return {k: v for k, v in loaded.model.encoder.state_dict().items()}


def test_workbench_random_init_is_the_encoder_initialisation_of_the_seed(tiny_model_dir):
    from workbench.artifacts.model_folder import load_model_folder
    from workbench.model.pretraining import PretrainingModel

    config = load_model_folder(tiny_model_dir).encoder_config
    pretrained = _encoder_state(load_for_task(tiny_model_dir, "classification", 2))
    torch.manual_seed(7)
    random = load_for_task(tiny_model_dir, "classification", 2, init="random")
    assert random.init == "random" and random.checkpoint_hash.startswith("init-")
    torch.manual_seed(7)
    reference = PretrainingModel(config).encoder.state_dict()  # what pretraining starts from with this seed
    state = _encoder_state(random)
    for name, value in reference.items():
        if name.startswith("pooler."):
            continue  # RoBERTa-style classifiers have no pooler
        assert torch.equal(state[name], value), name
    word = state["embeddings.word_embeddings.weight"]
    assert not torch.equal(word, pretrained["embeddings.word_embeddings.weight"])
    # normal(0, initializer_range): sample std within 5% of 0.02 over 2000 x 64 draws (relative error ~ 1/sqrt(2N))
    non_pad = torch.cat([word[: config.pad_token_id], word[config.pad_token_id + 1 :]])
    assert non_pad.std().item() == pytest.approx(config.initializer_range, rel=0.05)
    torch.manual_seed(8)
    other = _encoder_state(load_for_task(tiny_model_dir, "classification", 2, init="random"))
    assert not torch.equal(other["embeddings.word_embeddings.weight"], word)  # the weights depend on the seed
    # the checkpoint hash names the architecture, not the draw: every seed's row shares it
    assert load_for_task(tiny_model_dir, "classification", 2, init="random").checkpoint_hash == random.checkpoint_hash


def test_transformers_random_init_is_the_class_init_weights(minilm_dir, transformers):
    torch.manual_seed(3)
    random = load_for_task(minilm_dir, "classification", 2, init="random")
    pretrained = load_for_task(minilm_dir, "classification", 2)
    torch.manual_seed(3)
    config = transformers.AutoConfig.from_pretrained(str(minilm_dir), num_labels=2)
    reference = transformers.AutoModelForSequenceClassification.from_config(config).state_dict()
    state, trained = random.model.model.state_dict(), pretrained.model.model.state_dict()
    key = "bert.embeddings.word_embeddings.weight"
    assert all(torch.equal(state[name], value) for name, value in reference.items())
    assert not torch.equal(state[key], trained[key])
    assert random.checkpoint_hash.startswith("init-") and random.checkpoint_hash != pretrained.checkpoint_hash


def test_random_init_job_is_its_own_row(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="allocine_tiny", format="csv", train=csv_path, dev=csv_path, test=csv_path,
                      max_train_examples=16, max_eval_examples=16, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=1e-3, epochs=1, batch_size=8)
    pretrained = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    random = finetune_task(task, FinetuneConfig(**{**finetune.__dict__, "init": "random"}), ONE_THREAD, seed=0, evals_dir=tmp_path)
    assert pretrained.key.model == "tiny" and random.key.model == "tiny (random init)"
    assert random.key.hparams["init"] == "random" and "init" not in pretrained.key.hparams
    assert random.run_dir != pretrained.run_dir
    rows = ResultsDB(tmp_path / "results.sqlite").results()
    assert {r.model for r in rows} == {"tiny", "tiny (random init)"}  # the pretrained row is kept
    # the majority-class baseline and the prediction concentration are stored with the scores
    labels = [line.rsplit(",", 1)[1].strip() for line in open(csv_path, encoding="utf-8").read().splitlines()[1:17]]
    majority = max(sorted(set(labels)), key=labels.count)
    assert random.scores["test"]["majority_baseline"] == pytest.approx(100.0 * labels.count(majority) / 16)
    assert 50.0 <= random.scores["test"]["top_prediction_share"] <= 100.0
