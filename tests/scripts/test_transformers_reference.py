"""The pure parts of scripts/transformers_reference.py (issue #17 section 1(d)): the Trainer's inputs are
workbench's own feature ids, the transformers model is sized as the workbench config, and the gain is the
report's Welch difference."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.spec_from_file_location("transformers_reference", REPO / "scripts" / "transformers_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sentencepiece_dir(tmp_path_factory) -> Path:
    """A SentencePiece BPE with RoBERTa specials, as sentencepiece_bpe_fr_8k (smaller), trained by workbench."""
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    config = TokenizerConfig(name="tiny-sp", algorithm="sentencepiece_bpe", vocab_size=800, special_tokens="roberta",
                             character_coverage=1.0, sample_lines=100_000, normalize_apostrophes=True)
    sources = [SourceConfig(path=str(REPO / "corpora" / "sample_fr" / "text" / "*.txt"))]
    return train_tokenizer(config, sources, tmp_path_factory.mktemp("tok") / "tiny-sp")


def _texts(n: int):
    lines = []
    for path in sorted((REPO / "corpora" / "sample_fr" / "text").glob("*.txt")):
        lines.extend(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    long = " ".join(lines[:40])  # far over 32 tokens: truncation must keep the same head as workbench's
    return lines[:n] + [long, "C’est l’été : « très » bien !"]


def _assert_same_ids(reference, tokenizer_dir: Path, examples, labels, max_seq_len: int) -> None:
    from transformers import AutoTokenizer

    from workbench.evaluation.features.classification import classification_features
    from workbench.tokenization.tokenizer import Tokenizer

    ours = classification_features(examples, Tokenizer.load(tokenizer_dir), labels, max_seq_len)
    theirs = reference.task_encodings(AutoTokenizer.from_pretrained(str(tokenizer_dir)), examples, labels, max_seq_len)
    assert [e["input_ids"] for e in theirs] == [f.input_ids for f in ours]
    assert [e["labels"] for e in theirs] == [f.label for f in ours]
    assert all(e["attention_mask"] == [1] * len(e["input_ids"]) for e in theirs)
    assert max(len(f.input_ids) for f in ours) == max_seq_len  # the long text was truncated


def test_trainer_inputs_are_workbench_feature_ids(reference, sentencepiece_dir, transformers):
    from workbench.evaluation.examples import TextExample

    texts = _texts(30)
    examples = [TextExample(text, None, "pos" if i % 2 else "neg", f"t:{i}") for i, text in enumerate(texts)]
    _assert_same_ids(reference, sentencepiece_dir, examples, ["neg", "pos"], 32)


def test_trainer_inputs_on_allocine_examples(reference, sentencepiece_dir, shared_data, transformers):
    """The experiment's own Allocine examples (workbench's reader), at the task's max_seq_len."""
    import dataclasses

    from workbench.evaluation.readers import load_task

    task = reference.compose_config(reference.EXPERIMENT).tasks["allocine"]
    task = dataclasses.replace(task, train=str(shared_data / "allocine_fr" / "test_data_allocine.csv"),
                               dev=str(shared_data / "allocine_fr" / "test_data_allocine.csv"),
                               test=str(shared_data / "allocine_fr" / "test_data_allocine.csv"))
    data = load_task(task, REPO)
    _assert_same_ids(reference, sentencepiece_dir, data.dev[:200], data.labels, task.max_seq_len)


def test_model_is_sized_as_the_workbench_config(reference, transformers):
    from workbench.model.config import EncoderConfig
    import dataclasses

    config = dataclasses.asdict(EncoderConfig(family="camembert", size="tiny", vocab_size=500, hidden_size=32, num_layers=2,
                                              num_heads=4, intermediate_size=64, max_positions=64, position_offset=2,
                                              type_vocab_size=1, norm_position="pre", final_norm=True, dropout=0.0,
                                              attention_dropout=0.0, pad_token_id=1, layer_norm_eps=1e-5))
    model = transformers.XLMRobertaXLForMaskedLM(transformers.XLMRobertaXLConfig(**reference.hf_config_fields(config)))
    assert model.roberta.embeddings.position_embeddings.num_embeddings == 66  # positions counted from pad + 1
    assert model.roberta.embeddings.word_embeddings.num_embeddings == 500
    assert len(model.roberta.encoder.layer) == 2 and model.config.hidden_dropout_prob == 0.0
    assert model.lm_head.decoder.weight is model.roberta.embeddings.word_embeddings.weight  # tied, as workbench's
    with pytest.raises(SystemExit, match="pre-norm"):
        reference.hf_config_fields({**config, "norm_position": "post"})


def test_gain_is_the_reports_welch_difference(reference):
    """Round 3's Allocine row of docs/pretraining_gain.md: -0.97 [-3.23, +1.30] (python -m workbench report)."""
    gain = reference.gain_summary([77.7, 77.8, 77.7], [77.9, 79.7, 78.5])
    assert gain["gain"] == pytest.approx(-0.9667, abs=5e-4)  # the docs print 2 decimals
    assert gain["interval"] == pytest.approx([-3.23, 1.30], abs=5e-3)
    assert gain["pretrained_sd"] == pytest.approx(0.0577, abs=5e-4) and gain["random_sd"] == pytest.approx(0.9165, abs=5e-4)
    assert reference.gain_summary([77.7], [78.0])["interval"] is None  # one seed: no interval


def test_merged_tables_recompute_the_gain_and_refuse_duplicates(reference):
    hp = {"lr": 1e-3, "epochs": 5}

    def result(*jobs):
        return {"task": "allocine_fr", "ref": "r", "hyperparameters": hp,
                "jobs": [{"init": i, "seed": s, "test_accuracy": a, "dev_accuracy": a} for i, s, a in jobs]}

    merged = reference.merge_results([result(("pretrained", 0, 77.7), ("random", 0, 77.9)),
                                      result(("pretrained", 1, 77.8), ("pretrained", 2, 77.7)),
                                      result(("random", 1, 79.7), ("random", 2, 78.5))])
    assert len(merged["jobs"]) == 6
    assert merged["gain"]["interval"] == pytest.approx([-3.23, 1.30], abs=5e-3)  # as the report's table above
    with pytest.raises(SystemExit, match="random seed 0 appears in more than one"):
        reference.merge_results([result(("random", 0, 1.0)), result(("random", 0, 2.0))])
    with pytest.raises(SystemExit, match="cannot merge"):
        reference.merge_results([result(), {**result(), "hyperparameters": {"lr": 3e-4}}])
