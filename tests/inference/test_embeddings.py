"""Embeddings: parity with transformers on the real all-MiniLM-L6-v2, padding invariance, determinism, the
BERT feature-based layer combinations, token embeddings, files and cosine similarity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.helpers import assert_close_scaled
from workbench.config.choices import ConfigError
from workbench.inference.config import EmbedConfig
from workbench.inference.embeddings import cosine_similarity, sentence_embeddings, token_embeddings
from workbench.inference.inputs import Text
from workbench.inference.model_loading import InferenceError, load_embedder

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

SENTENCES = [
    "Le chat dort sur le canapé depuis ce matin, sans se soucier du bruit.",
    "The quick brown fox jumps over the lazy dog.",
    "Où est la bibliothèque municipale ?",
    "Short.",
]
# Float32 rounding only (another implementation, or another batch shape, hence other kernels' summation orders),
# relative to the embeddings' scale: measured up to 6.4 float32 eps (1.19e-7) over the AVX-512, AVX2 and scalar
# (ATEN_CPU_CAPABILITY=default) kernels; 1e-5 = 84 eps.
RTOL = 1e-5


def texts(*items):
    return [Text(str(i), t, f"test:{i}") for i, t in enumerate(items, start=1)]


def test_minilm_sentence_and_layer_embeddings_match_transformers(minilm_dir, transformers):
    model = load_embedder(str(minilm_dir))
    assert model.source == "transformers" and model.num_layers == 6
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    reference = transformers.AutoModel.from_pretrained(minilm_dir).eval()
    inputs = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = reference(**inputs, output_hidden_states=True).hidden_states
    keep = inputs["attention_mask"][..., None].double()

    def mean(tokens):
        return ((tokens.double() * keep).sum(1) / keep.sum(1)).numpy()

    ours = sentence_embeddings(model, texts(*SENTENCES), batch_size=3)
    assert_close_scaled(ours, mean(states[-1]), RTOL, "mean embeddings")
    summed = sentence_embeddings(model, texts(*SENTENCES), layers="sum_last_four")
    assert_close_scaled(summed, mean(sum(states[-4:])), RTOL, "sum_last_four")
    concat = sentence_embeddings(model, texts(*SENTENCES), layers="concat_last_four")
    assert concat.shape == (4, 4 * 384)
    assert_close_scaled(concat, mean(torch.cat(states[-4:], -1)), RTOL, "concat_last_four")
    cls = sentence_embeddings(model, texts(*SENTENCES), pooling="cls", layer=3)
    assert_close_scaled(cls, states[3][:, 0], RTOL, "cls embeddings")
    tokens = token_embeddings(model, texts(*SENTENCES))
    for row, item in enumerate(tokens):
        n = int(inputs["attention_mask"][row].sum())
        assert item.tokens == tokenizer.convert_ids_to_tokens(inputs["input_ids"][row, :n].tolist())
        assert_close_scaled(item.vectors, states[-1][row, :n], RTOL, "token embeddings")


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_invariant_and_deterministic(tiny_model_dir, pooling):
    model = load_embedder(str(tiny_model_dir))
    batch = texts("Court.", "Une phrase nettement plus longue que la première, pour forcer du remplissage.", "Moyenne ici.")
    together = sentence_embeddings(model, batch, layers="sum_last_four", pooling=pooling)
    for row, item in enumerate(batch):
        alone = sentence_embeddings(model, [item], layers="sum_last_four", pooling=pooling)
        assert_close_scaled(alone[0], together[row], RTOL, "alone vs batched")
    again = sentence_embeddings(model, batch, layers="sum_last_four", pooling=pooling)
    assert np.array_equal(together, again)
    tokens = token_embeddings(model, batch, layers="concat_last_four")
    alone_tokens = token_embeddings(model, batch[:1], layers="concat_last_four")
    assert tokens[0].vectors.shape == (len(tokens[0].tokens), 4 * 32)
    assert_close_scaled(tokens[0].vectors, alone_tokens[0].vectors, RTOL, "token embeddings alone vs batched")


def test_layer_choice_is_checked(tiny_model_dir):
    model = load_embedder(str(tiny_model_dir))
    with pytest.raises(InferenceError, match=r"embed.layer=9: the model has hidden states 0..5"):
        sentence_embeddings(model, texts("Bonjour."), layer=9)
    with pytest.raises(ConfigError, match="embed.layers"):
        EmbedConfig(layers="last_four")
    with pytest.raises(ConfigError, match="exactly two texts"):
        EmbedConfig(similarity=["a", "b", "c"])


def test_stage_writes_npy_ids_and_manifest(tiny_model_dir, tmp_path):
    from workbench.config.root import WorkbenchConfig
    from workbench.stages.embed import embed

    source = tmp_path / "texts.txt"
    source.write_text("Le chat dort.\n\nLe chien aboie très fort dans la cour.\n", encoding="utf-8")
    output = tmp_path / "emb.npy"
    embed(WorkbenchConfig(embed=EmbedConfig(model=str(tiny_model_dir), input_file=str(source), output=str(output))))
    vectors = np.load(output)
    ids = [json.loads(line) for line in (tmp_path / "emb.ids.jsonl").read_text(encoding="utf-8").splitlines()]
    assert vectors.shape == (2, 32) and vectors.dtype == np.float32
    assert [(r["row"], r["id"]) for r in ids] == [(0, "1"), (1, "3")]
    expected = sentence_embeddings(load_embedder(str(tiny_model_dir)), texts("Le chat dort.", "Le chien aboie très fort dans la cour."))
    assert np.array_equal(vectors, expected)
    manifest = json.loads((tmp_path / "emb.manifest.json").read_text(encoding="utf-8"))
    assert manifest["texts"] == 2 and manifest["dim"] == 32 and manifest["files"] == ["emb.npy", "emb.ids.jsonl"]

    tokens_out = tmp_path / "tokens.npy"
    embed(WorkbenchConfig(embed=EmbedConfig(model=str(tiny_model_dir), input_file=str(source), output=str(tokens_out), pooling="none")))
    rows = [json.loads(line) for line in (tmp_path / "tokens.ids.jsonl").read_text(encoding="utf-8").splitlines()]
    flat = np.load(tokens_out)
    assert rows[0]["start"] == 0 and rows[0]["end"] == rows[1]["start"] and rows[1]["end"] == flat.shape[0]
    assert rows[0]["tokens"][0] == "<s>" and rows[0]["tokens"][-1] == "</s>"


def test_stage_writes_parquet(tiny_model_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from workbench.config.root import WorkbenchConfig
    from workbench.stages.embed import embed

    source = tmp_path / "texts.txt"
    source.write_text("Le chat dort.\nIl pleut.\n", encoding="utf-8")
    embed(WorkbenchConfig(embed=EmbedConfig(model=str(tiny_model_dir), input_file=str(source), output=str(tmp_path / "e.parquet"), pooling="cls")))
    table = pq.read_table(tmp_path / "e.parquet").to_pydict()
    assert table["id"] == ["1", "2"] and table["text"] == ["Le chat dort.", "Il pleut."]
    expected = sentence_embeddings(load_embedder(str(tiny_model_dir)), texts("Le chat dort.", "Il pleut."), pooling="cls")
    assert np.array_equal(np.array(table["embedding"], dtype=np.float32), expected)


def test_similarity(minilm_dir, capsys):
    from workbench.config.root import WorkbenchConfig
    from workbench.stages.embed import embed

    pair = ["A man is playing a guitar.", "Someone plays an instrument."]
    value = embed(WorkbenchConfig(embed=EmbedConfig(model=str(minilm_dir), similarity=pair)))
    vectors = sentence_embeddings(load_embedder(str(minilm_dir)), texts(*pair))
    a, b = vectors.astype(np.float64)
    assert value == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-9)
    assert f"{value:.6f}" in capsys.readouterr().out
    unrelated = embed(WorkbenchConfig(embed=EmbedConfig(model=str(minilm_dir), similarity=[pair[0], "The stock market fell sharply today."])))
    assert value > unrelated  # all-MiniLM-L6-v2 is a trained sentence encoder
    assert cosine_similarity(a, a) == pytest.approx(1.0, abs=1e-12)


def test_bad_paths_are_clear(tmp_path):
    from workbench.config.root import WorkbenchConfig
    from workbench.stages.embed import embed

    with pytest.raises(InferenceError, match="embed.model=.*does not exist"):
        embed(WorkbenchConfig(embed=EmbedConfig(model=str(tmp_path / "nope"), similarity=["a", "b"])))
    (tmp_path / "t.txt").write_text("x\n", encoding="utf-8")
    with pytest.raises(InferenceError, match="unknown format '.csv'"):
        embed(WorkbenchConfig(embed=EmbedConfig(model=str(tmp_path), input_file=str(tmp_path / "t.txt"), output=str(tmp_path / "e.csv"))))
    with pytest.raises(InferenceError, match="neither a workbench model folder"):
        embed(WorkbenchConfig(embed=EmbedConfig(model=str(tmp_path), similarity=["a", "b"])))
