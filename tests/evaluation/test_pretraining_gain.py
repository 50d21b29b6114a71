"""CI version of benchmarks/bench_pretraining_gain.py: a tiny pretraining run on the shipped sample, fine-tuned
from its final model, its random initialisation and its checkpoints with three seeds, and the report's numbers."""

from __future__ import annotations

import dataclasses
import os
import statistics

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.evaluation.intervals import welch_difference
from workbench.evaluation.results_db import ResultsDB

SEEDS = (0, 1, 2)
TINY = [
    "+experiment=quickstart",
    "model.hidden_size=32", "model.intermediate_size=64", "model.num_heads=2", "model.num_layers=2",
    "model.max_positions=64", "packing.max_seq_len=64",
    "trainer.max_steps=40", "trainer.global_batch_size=16", "trainer.micro_batch_size=16", "trainer.log_every=10",
    "trainer.eval_every=40", "trainer.checkpoint_every=20", "trainer.keep_last=10", "trainer.scheduler.warmup_steps=4",
    "trainer.export_transformers=false", "hardware.num_threads=1",
    "finetune.epochs=2", "finetune.batch_size=32", "finetune.save_predictions=false",
    "tasks.sentiment.max_seq_len=64",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory, repo_root):
    from workbench.stages.pretraining_gain import pretraining_gain

    tmp = tmp_path_factory.mktemp("gain")
    paths = [f"paths.tokenizers={tmp}/tokenizers", f"paths.shards={tmp}/shards", f"paths.runs={tmp}/runs", f"paths.evals={tmp}/evals"]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = to_typed(compose(config_name="pipeline", overrides=[*TINY, *paths]))
    cfg = dataclasses.replace(cfg, tasks={"sentiment": cfg.tasks["sentiment"]})  # one task keeps it under two minutes
    cwd = os.getcwd()
    os.chdir(repo_root)  # the sample paths in conf/ are relative to the repository root
    try:
        result = pretraining_gain(cfg, SEEDS, checkpoints="all")
    finally:
        os.chdir(cwd)
    return tmp, cfg, result


def test_random_init_starts_from_the_family_init_not_the_pretrained_weights(study):
    from workbench.evaluation.models import load_for_task
    from workbench.model.pretraining import PretrainingModel

    tmp, cfg, _ = study
    model = tmp / "runs" / cfg.run_name / "model"
    loaded = load_for_task(model, "classification", 2)
    pretrained, config = loaded.model.encoder.state_dict(), loaded.model.encoder.config
    torch.manual_seed(1)
    random = load_for_task(model, "classification", 2, init="random").model.encoder.state_dict()
    torch.manual_seed(1)
    family = PretrainingModel(config).encoder.state_dict()  # pretraining's step 0 with this seed
    assert all(torch.equal(random[name], value) for name, value in family.items())
    assert all(not torch.equal(random[name], pretrained[name]) for name in family if name.endswith("weight") and "norm" not in name)


def test_gain_column_is_the_difference_of_the_rows_means(study):
    tmp, cfg, result = study
    name = cfg.finetune.model_name
    rows = ResultsDB(tmp / "evals" / "results.sqlite").results(tasks=["sample_sentiment"])
    scores = {}
    for row in rows:
        if row.split == "test" and row.metric == "accuracy":
            scores.setdefault(row.model, {})[row.seed] = row.value
    assert sorted(scores) == sorted([name, f"{name} (random init)", f"{name}@20", f"{name}@40"])
    assert all(sorted(per_seed) == list(SEEDS) for per_seed in scores.values())
    gains = {g.label: g for g in result.report.comparisons.gains}
    gain = gains[name]
    expected = statistics.mean(scores[name].values()) - statistics.mean(scores[f"{name} (random init)"].values())
    assert gain.difference.value == pytest.approx(expected, abs=1e-9)  # sums of 3 percentages: float rounding only
    assert gain.random_label == f"{name} (random init)" and gain.pretrained.n == gain.random.n == 3
    markdown = result.report.markdown.read_text(encoding="utf-8")
    assert "## Gain over random init" in markdown and f"| sample_sentiment | {name} |" in markdown
    # fewer seeds, same spread: a wider interval (t quantile and standard error both grow); one seed: none
    a, b = gain.pretrained, gain.random
    if gain.difference.interval is not None and gain.difference.interval[0] != gain.difference.interval[1]:
        two = welch_difference(a.mean, a.std, 2, b.mean, b.std, 2).interval
        width = gain.difference.interval[1] - gain.difference.interval[0]
        assert two[1] - two[0] > width
    assert welch_difference(a.mean, a.std, 1, b.mean, b.std, 3).interval is None


def test_checkpoints_evaluate_under_run_at_step_with_increasing_tokens(study):
    tmp, cfg, result = study
    name = cfg.finetune.model_name
    (curve,) = result.report.comparisons.curves
    assert [p.label for p in curve.points] == [f"{name}@20", f"{name}@40"]
    tokens = [p.tokens for p in curve.points]
    assert all(t is not None and t > 0 for t in tokens) and tokens[0] < tokens[1]
    # 40 steps of 16 packed sequences of at most 64 tokens: at most 16 * 64 tokens a step
    assert tokens[1] <= 40 * 16 * 64 and tokens[1] == pytest.approx(2 * tokens[0], rel=0.2)
    assert curve.random_label == f"{name} (random init)" and curve.random_dev.n == 3
    assert "pretraining-gain curve" in result.report.html.read_text(encoding="utf-8")
    assert result.report.comparisons.baselines["sample_sentiment"] > 0  # the majority class of the sample's train


def test_checkpoint_selectors_and_their_errors(study):
    from workbench.evaluation.checkpoints import select_checkpoints
    from workbench.evaluation.errors import FinetuneError
    from workbench.evaluation.models import load_for_task

    tmp, cfg, result = study
    run = tmp / "runs" / cfg.run_name
    both = [run / "checkpoints" / "step-00000020", run / "checkpoints" / "step-00000040"]
    assert select_checkpoints(run, "all") == both == select_checkpoints(run, "40, 20")
    assert select_checkpoints(run / "model", "last") == both[1:]  # an experiment's finetune.model: runs/<run>/model
    with pytest.raises(FinetuneError, match=r"has no checkpoint at step 30; it has steps \[20, 40\]"):
        select_checkpoints(run, "20,30")
    with pytest.raises(FinetuneError, match=r"'latest' is not a step; use all, last or steps like '200,400'"):
        select_checkpoints(run, "latest")
    loaded = load_for_task(run / "checkpoints" / "20", "classification", 2)  # short form of step-00000020
    (curve,) = result.report.comparisons.curves
    assert loaded.name == f"{cfg.run_name}@20" and loaded.pretraining == {"step": 20, "tokens": curve.points[0].tokens}
    with pytest.raises(FinetuneError, match=r"checkpoint .*step-00000030 does not exist .*checkpoints at steps \[20, 40\]"):
        load_for_task(run / "checkpoints" / "30", "classification", 2)


def test_checkpoint_tokens_are_the_real_tokens_of_the_batches_trained_on(study):
    from workbench.artifacts.layout import shards_dir
    from workbench.corpus.loader import BatchLoader
    from workbench.corpus.shards import ShardSet
    from workbench.tokenization.tokenizer import Tokenizer

    tmp, cfg, result = study
    tokenizer = Tokenizer.load(tmp / "tokenizers" / cfg.tokenizer.name)
    shards = ShardSet.open(shards_dir(cfg))
    loader = BatchLoader(shards.split("train"), cfg.trainer.micro_batch_size, seed=cfg.seed, rank=0, world_size=1,
                         pad_id=tokenizer.pad_id)
    batches = iter(loader)  # the loop's own batch order (one process, no accumulation: one batch a step)
    per_step = [int(next(batches)["attention_mask"].sum()) for _ in range(40)]
    (curve,) = result.report.comparisons.curves
    assert [p.tokens for p in curve.points] == [sum(per_step[:20]), sum(per_step)]


def test_random_init_of_a_run_is_one_job_whatever_the_checkpoints(study):
    from workbench.evaluation.config import FinetuneConfig
    from workbench.stages.evaluate import model_jobs

    tmp, cfg, _ = study
    run = tmp / "runs" / cfg.run_name
    pretrained = model_jobs(FinetuneConfig(model=str(run), checkpoints="all"))
    assert [job.model for job in pretrained] == [str(run / "checkpoints" / f"step-{s:08d}") for s in (20, 40)]
    assert all(job.checkpoints is None for job in pretrained)
    assert len(model_jobs(FinetuneConfig(model=str(run), checkpoints="all", init="random"))) == 1


def test_fill_mask_embed_and_predict_take_a_checkpoint(study):
    """Every checkpoint is a model: the last checkpoint gives fill-mask and embed exactly what the run's final
    model gives (the same weights), an earlier one does not; predict explains that a checkpoint needs fine-tuning."""
    import numpy as np

    from workbench.inference.embeddings import sentence_embeddings
    from workbench.inference.fill_mask import fill_mask
    from workbench.inference.finetuned import load_finetuned
    from workbench.inference.inputs import Text
    from workbench.inference.model_loading import InferenceError, load_embedder, load_masked_lm

    tmp, cfg, _ = study
    run = tmp / "runs" / cfg.run_name
    texts = [Text("1", "Le camembert est un <mask> normand.", "t:1"), Text("2", "Il <mask> la porte.", "t:2")]

    def completions(path):
        return [[(c.token_id, c.probability) for m in r.masks for c in m.completions] for r in fill_mask(load_masked_lm(str(path)), texts)]

    final, last, first = completions(run / "model"), completions(run / "checkpoints" / "40"), completions(run / "checkpoints" / "step-00000020")
    assert last == final and first != final
    plain = [Text(t.id, t.text.replace("<mask>", "fromage"), t.where) for t in texts]
    embedded = {name: sentence_embeddings(load_embedder(str(run / name)), plain) for name in ("model", "checkpoints/40", "checkpoints/20")}
    assert np.array_equal(embedded["model"], embedded["checkpoints/40"])
    assert not np.array_equal(embedded["model"], embedded["checkpoints/20"])
    with pytest.raises(InferenceError, match=r"checkpoints/30: no such checkpoint; .* has checkpoints at steps \[20, 40\]"):
        load_masked_lm(str(run / "checkpoints" / "30"))
    with pytest.raises(InferenceError, match=r"without a task head: fine-tune it first, python -m workbench eval task=<task>"):
        load_finetuned(str(run / "checkpoints" / "20"))
