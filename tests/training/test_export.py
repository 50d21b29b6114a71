"""A finished run holds a transformers export that transformers loads and that gives the workbench model's
MLM logits (<= 1e-5); without transformers the export is skipped with the reason logged, the run still finishes."""

from __future__ import annotations

import json
import logging
import sys

import pytest
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from workbench.artifacts.model_folder import load_model_folder
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.stages.train import train
from workbench.tokenization.tokenizer import Tokenizer
from workbench.training.export import export_pretrained

from .conftest import TINY_RUN, compose_config

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

TEXTS = ["Le camembert est un fromage normand.", "Il pleut sur la ville comme il pleut sur mon cœur."]
CLASSES = {"camembert": "CamembertForMaskedLM", "roberta": "RobertaForMaskedLM", "bert": "BertForMaskedLM",
           "flaubert": "FlaubertWithLMHeadModel"}
FAMILY_OVERRIDES = {"flaubert": ["model.intermediate_size=128"]}  # XLM's feed-forward is 4 x hidden


def _run(sample_artifacts, runs, family, *extra):
    overrides = [o for o in TINY_RUN if not o.startswith(("+model=", "trainer.export_transformers="))]
    return compose_config("pipeline", [f"+model={family}_tiny", *overrides, *sample_artifacts.paths(runs),
                                       "trainer.max_steps=2", "trainer.eval_every=0", "trainer.checkpoint_every=2",
                                       f"run_name={family}", *extra])


def _batch(tokenizer: Tokenizer):
    rows = [tokenizer.build_inputs(tokenizer.encode(text))[0] for text in TEXTS]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), tokenizer.pad_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def _workbench_logits(model: PretrainingModel, ids, mask):
    """Logits at every real position (flat (b, t) order): every position is a 'masked' one."""
    labels = torch.where(mask.bool(), ids, torch.full_like(ids, -100))
    with torch.no_grad():
        return model.eval()(ids, mask.bool(), labels).mlm_logits


@pytest.mark.parametrize("family", list(CLASSES))
def test_finished_run_has_a_transformers_export_with_the_same_logits(family, sample_artifacts, tmp_path, transformers):
    torch.set_num_threads(1)
    result = train(_run(sample_artifacts, tmp_path, family, *FAMILY_OVERRIDES.get(family, [])))
    run_dir = tmp_path / family
    assert result.run_dir == run_dir and not result.stopped_early
    export = run_dir / "transformers"
    config = json.loads((export / "config.json").read_text())
    assert config["architectures"] == [CLASSES[family]]
    assert not list(run_dir.glob(".*"))  # no temporary folder left behind

    loaded = load_model_folder(run_dir / "model")
    ours = PretrainingModel(loaded.encoder_config)
    ours.load_state_dict(loaded.state_dict)
    theirs = transformers.AutoModelForMaskedLM.from_pretrained(str(export)).eval()
    assert type(theirs).__name__ == CLASSES[family]
    ids, mask = _batch(loaded.tokenizer)
    inputs = {"input_ids": ids, "attention_mask": mask}
    with torch.no_grad():
        their_logits = theirs(**inputs).logits[mask.bool()]
    # float32 rounding only, relative to the logits' scale (measured up to 8 float32 eps on AVX-512, AVX2 and scalar
    # kernels; 1e-5 = 84 eps, as tests/interop/test_transformers_roundtrip.py's RTOL)
    assert_close_scaled(_workbench_logits(ours, ids, mask), their_logits, 1e-5, "MLM logits")
    # the tokenizer files travel with it: AutoTokenizer gives the workbench ids
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(export))
    expected = [loaded.tokenizer.build_inputs(loaded.tokenizer.encode(text))[0] for text in TEXTS]
    assert [hf_tokenizer(text)["input_ids"] for text in TEXTS] == expected


def test_bert_with_next_sentence_head_exports_as_bert_for_pretraining(tmp_path, sample_artifacts, transformers):
    config = EncoderConfig(size="tiny", vocab_size=3000, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                           max_positions=64, dropout=0.0, attention_dropout=0.0)
    model = randomize_weights(PretrainingModel(config, nsp=True))
    tokenizer_dir = sample_artifacts.root / "tokenizers" / "sample-sentencepiece"
    assert export_pretrained(model.state_dict(), config, tokenizer_dir, tmp_path / "transformers") == tmp_path / "transformers"
    theirs = transformers.BertForPreTraining.from_pretrained(str(tmp_path / "transformers")).eval()
    ids = torch.randint(5, 3000, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        out = theirs(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        ours = model.eval()(ids, mask.bool(), ids)
    assert_close_scaled(ours.mlm_logits, out.prediction_logits.reshape(-1, 3000), 1e-5, "MLM logits")
    assert_close_scaled(ours.nsp_logits, out.seq_relationship_logits, 1e-5, "NSP logits")


def test_without_transformers_the_export_is_written_from_files(sample_artifacts, tmp_path, monkeypatch, caplog):
    # (it used to be skipped: the quickstart, which installs no transformers, had no export; issue #16)
    torch.set_num_threads(1)
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` raises ImportError
    with caplog.at_level(logging.INFO, logger="workbench.training.export"):
        result = train(_run(sample_artifacts, tmp_path, "camembert"))
    assert result.steps == 2 and (tmp_path / "camembert" / "model" / "manifest.json").exists()
    export = tmp_path / "camembert" / "transformers"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= {p.name for p in export.iterdir()}
    assert "written without transformers installed" in caplog.text and "skipped" not in caplog.text


def test_a_model_transformers_cannot_express_is_not_exported_and_the_run_still_finishes(sample_artifacts, tmp_path, caplog, transformers):
    torch.set_num_threads(1)
    with caplog.at_level(logging.WARNING, logger="workbench.training.export"):
        result = train(_run(sample_artifacts, tmp_path, "flaubert"))  # feed-forward 64 with hidden 32: not XLM's 4 x
    assert result.steps == 2 and (tmp_path / "flaubert" / "model" / "manifest.json").exists()
    assert not (tmp_path / "flaubert" / "transformers").exists()
    assert "transformers export skipped: cannot export this flaubert encoder to transformers: intermediate_size must be 4 * hidden_size" in caplog.text


def _row(model, task, split, value, seed):
    from workbench.evaluation.results_db import ResultRow

    return ResultRow(model, "hash", task, "fr", "accuracy", split, "accuracy", value, seed, "h", {}, "", "", "")


def test_run_export_carries_a_model_card_with_the_run_s_facts_and_later_its_scores(sample_artifacts, tmp_path, transformers):
    from workbench.corpus.shards import ShardSet
    from workbench.interop.model_card import CARD_FILE, ModelCardConfig, parse_front_matter
    from workbench.training.export import refresh_run_card

    torch.set_num_threads(1)
    train(_run(sample_artifacts, tmp_path, "camembert", "model_card.license=mit", "corpus.license=cc-by-4.0"))
    export = tmp_path / "camembert" / "transformers"
    card = (export / CARD_FILE).read_text(encoding="utf-8")
    meta = parse_front_matter(card)
    assert meta["license"] == "mit" and meta["language"] == ["fr"] and meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "fill-mask" and meta["datasets"] == ["sample_fr"] and "model-index" not in meta
    theirs = transformers.AutoModelForMaskedLM.from_pretrained(str(export))
    assert f"- parameters: {theirs.num_parameters():,}\n" in card  # tied decoder counted once, as transformers does
    manifest = json.loads((tmp_path / "camembert" / "model" / "manifest.json").read_text())
    shards = ShardSet.open(manifest["corpus"]["shards"])
    assert f"- tokens in the training shards: {shards.manifest['splits']['train']['tokens']:,}\n" in card
    assert manifest["corpus"]["tokens_seen"] > 0 and "- licence: cc-by-4.0\n" in card
    assert "- steps: 2\n" in card and "Not evaluated" in card

    rows = [_row("camembert", "sample_sentiment", "test", v, s) for v, s in ((70.0, 0), (74.0, 1))]
    rows += [_row("camembert (random init)", "sample_sentiment", "test", v, s) for v, s in ((60.0, 0), (61.0, 1))]
    refresh_run_card(tmp_path / "camembert", ModelCardConfig(license="mit"), rows, {"sample_sentiment": "classification"})
    card = (export / CARD_FILE).read_text(encoding="utf-8")
    result = parse_front_matter(card)["model-index"][0]["results"][0]
    assert result["dataset"]["name"] == "sample_sentiment" and result["task"]["type"] == "text-classification"
    assert result["metrics"][0]["value"] == 72.0 and result["metrics"][0]["args"]["seeds"] == [0, 1]
    assert "| sample_sentiment | test | accuracy | 72.00 ± 2.83 | 0, 1 |" in card  # sample std of 70 and 74
    assert "| sample_sentiment | accuracy | 72.00 | 60.50 | +11.50 | 0, 1 |" in card
