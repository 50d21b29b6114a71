"""Fill-mask: probabilities are the softmax of the MLM logits, several masks, files, the missing-mask error,
and the same answers from a workbench folder, its transformers export, and transformers' own model."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.artifacts.model_folder import load_model_folder
from workbench.inference.config import FillMaskConfig
from workbench.inference.fill_mask import MissingMaskError, fill_mask, with_mask_token
from workbench.inference.inputs import Text
from workbench.inference.model_loading import InferenceError, load_embedder, load_masked_lm
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default
# Tolerances on probabilities (scale <= 1): float32 rounding moves a probability p by about p times the logits'
# rounding error (a few eps of their scale), so an absolute 1e-6 (8 float32 eps at p = 1) holds for the tiny models'
# spread-out probabilities; 1e-5 against transformers' classes, whose kernels differ more.

TEXTS = ["Le camembert est <mask> !", "<mask> matin, nous sommes partis vers la <mask> de la ville.", "Il <mask>."]


def texts(*items):
    return [Text(str(i), t, f"test:{i}") for i, t in enumerate(items, start=1)]


def reference_probabilities(model_dir, text):
    """Softmax over the vocabulary of a PretrainingModel's dense logits (every position projected)."""
    loaded = load_model_folder(model_dir)
    model = PretrainingModel(loaded.encoder_config).eval()
    model.load_state_dict(loaded.state_dict)
    ids, _ = loaded.tokenizer.build_inputs(loaded.tokenizer.encode(text))
    ids = torch.tensor([ids])
    with torch.no_grad():
        logits = model.mlm_head(model.encoder(ids, torch.ones_like(ids)))[0]
    positions = (ids[0] == loaded.tokenizer.mask_id).nonzero().squeeze(1)
    return positions, torch.softmax(logits.double(), dim=-1)[positions]


def test_probabilities_are_the_softmax_of_the_mlm_logits(tiny_model_dir):
    model = load_masked_lm(str(tiny_model_dir))
    results = fill_mask(model, texts(*TEXTS), top_k=7, batch_size=2)  # padded batches, several masks
    assert [len(r.masks) for r in results] == [1, 2, 1]
    for text, result in zip(TEXTS, results):
        positions, probabilities = reference_probabilities(tiny_model_dir, text)
        assert [m.position for m in result.masks] == positions.tolist()
        for mask, expected in zip(result.masks, probabilities):
            got = torch.tensor([c.probability for c in mask.completions], dtype=torch.float64)
            top = torch.topk(expected, 7)
            assert [c.token_id for c in mask.completions] == top.indices.tolist()
            assert torch.allclose(got, top.values, atol=1e-6)
            assert float(got.sum()) <= 1.0 + 1e-12 and torch.all(got[:-1] >= got[1:])
            assert mask.completions[0].token == model.tokenizer.id_to_token(mask.completions[0].token_id)


def test_batch_size_does_not_change_results(tiny_model_dir):
    model = load_masked_lm(str(tiny_model_dir))
    one = fill_mask(model, texts(*TEXTS), top_k=3, batch_size=1)
    many = fill_mask(model, texts(*TEXTS), top_k=3, batch_size=3)
    for a, b in zip(one, many):
        for ma, mb in zip(a.masks, b.masks):
            assert [c.token_id for c in ma.completions] == [c.token_id for c in mb.completions]
            assert max(abs(x.probability - y.probability) for x, y in zip(ma.completions, mb.completions)) <= 1e-6


def test_text_without_mask_names_the_line_and_the_token(tiny_model_dir):
    model = load_masked_lm(str(tiny_model_dir))
    with pytest.raises(MissingMaskError) as error:
        fill_mask(model, [Text("1", "Le camembert est <mask> !", "f.txt:1"), Text("3", "Rien à prédire ici.", "f.txt:3")])
    message = str(error.value)
    assert "f.txt:3" in message and "Rien à prédire ici." in message and "<mask>" in message


def test_generic_mask_maps_to_the_family_token(minilm_dir):
    model = load_embedder(str(minilm_dir))  # a BERT WordPiece vocabulary: [MASK]
    assert with_mask_token("a <mask> b <mask>", "[MASK]") == "a [MASK] b [MASK]"
    assert with_mask_token("a <mask>", "<mask>") == "a <mask>"
    from workbench.inference.fill_mask import encode_masked

    generic = encode_masked(model, Text("1", "paris is the <mask> of france.", "x"))
    own = encode_masked(model, Text("1", "paris is the [MASK] of france.", "x"))
    assert generic == own and generic.count(model.tokenizer.mask_id) == 1
    with pytest.raises(MissingMaskError, match=r"\[MASK\]"):
        encode_masked(model, Text("1", "no mask here", "x"))


def test_checkpoint_without_mlm_head_is_refused(minilm_dir, transformers):
    with pytest.raises(InferenceError, match="no masked-LM head"):
        load_masked_lm(str(minilm_dir))


def test_transformers_export_gives_the_same_predictions(tiny_model_dir, sample_tokenizer_dir, tmp_path, transformers, monkeypatch):
    from workbench.interop.transformers_export import export_to_transformers

    loaded = load_model_folder(tiny_model_dir)
    model = PretrainingModel(loaded.encoder_config).eval()
    model.load_state_dict(loaded.state_dict)
    hf_dir = export_to_transformers(model, tmp_path / "hf", tokenizer_dir=sample_tokenizer_dir)
    ours = fill_mask(load_masked_lm(str(tiny_model_dir)), texts(*TEXTS), top_k=5)
    imported = load_masked_lm(str(hf_dir))
    assert imported.source == "transformers"
    # transformers' own AutoModelForMaskedLM (the path for architectures workbench does not import)
    monkeypatch.setattr("workbench.inference.model_loading._imported", lambda folder: None)
    auto = load_masked_lm(str(hf_dir))
    assert auto.source == "transformers-auto"
    for other in (imported, auto):
        theirs = fill_mask(other, texts(*TEXTS), top_k=5)
        for a, b in zip(ours, theirs):
            for ma, mb in zip(a.masks, b.masks):
                assert ma.position == mb.position
                assert [c.token_id for c in ma.completions] == [c.token_id for c in mb.completions]
                assert max(abs(x.probability - y.probability) for x, y in zip(ma.completions, mb.completions)) <= 1e-5


def test_stage_reads_a_file_and_writes_jsonl(tiny_model_dir, tmp_path):
    from workbench.config.root import WorkbenchConfig
    from workbench.stages.fill_mask import fill_mask_stage

    source = tmp_path / "texts.txt"
    source.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    cfg = WorkbenchConfig(fill_mask=FillMaskConfig(model=str(tiny_model_dir.parent), input_file=str(source), output=str(output), top_k=4))
    fill_mask_stage(cfg)  # a run folder: its model/ is used
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", "3"] and [r["text"] for r in rows] == [TEXTS[0], TEXTS[1]]
    assert [len(r["masks"]) for r in rows] == [1, 2]
    direct = fill_mask(load_masked_lm(str(tiny_model_dir)), texts(TEXTS[1]), top_k=4)[0]
    assert [p["token_id"] for p in rows[1]["masks"][1]["predictions"]] == [c.token_id for c in direct.masks[1].completions]
    assert all(len(m["predictions"]) == 4 for r in rows for m in r["masks"])

    source.write_text(f"{TEXTS[0]}\nsans masque\n", encoding="utf-8")
    bad = WorkbenchConfig(fill_mask=FillMaskConfig(model=str(tiny_model_dir), input_file=str(source), output=str(tmp_path / "bad.jsonl")))
    with pytest.raises(MissingMaskError, match=rf"{source}:2"):
        fill_mask_stage(bad)
    assert not (tmp_path / "bad.jsonl").exists()  # nothing half-written


@pytest.fixture(scope="module")
def flaubert_model_dir(tmp_path_factory):
    """A tiny FlauBERT-style model on a Moses+BPE vocabulary, whose mask token is <special1>."""
    from tests.inference.conftest import REPO_ROOT, save_pretraining_model
    from workbench.corpus.config import SourceConfig
    from workbench.tokenization.config import TokenizerConfig
    from workbench.tokenization.train import train_tokenizer

    root = tmp_path_factory.mktemp("flaubert")
    config = TokenizerConfig(name="tiny-moses", algorithm="moses_bpe", vocab_size=600, special_tokens="flaubert",
                             character_coverage=1.0, sample_lines=100_000)
    tokenizer_dir = train_tokenizer(config, [SourceConfig(path=str(REPO_ROOT / "corpora/sample_fr/text/*.txt"))], root / "tok")
    return save_pretraining_model(root / "model", tokenizer_dir, family="flaubert", position_offset=0, type_vocab_size=0,
                                  pooler=False, mlm_transform=False, layer_norm_eps=1e-12)


def test_flaubert_accepts_generic_and_own_mask_token(flaubert_model_dir):
    model = load_masked_lm(str(flaubert_model_dir))
    assert model.tokenizer.special_tokens.mask == "<special1>"
    generic, own = fill_mask(model, texts("Le chat est <mask> , et <mask> !", "Le chat est <special1> , et <special1> !"), top_k=4)
    assert len(generic.masks) == 2
    for a, b in zip(generic.masks, own.masks):
        assert a.position == b.position
        assert [(c.token_id, c.probability) for c in a.completions] == [(c.token_id, c.probability) for c in b.completions]
    positions, probabilities = reference_probabilities(flaubert_model_dir, "Le chat est <special1> , et <special1> !")
    assert [m.position for m in generic.masks] == positions.tolist()
    for mask, expected in zip(generic.masks, probabilities):
        got = torch.tensor([c.probability for c in mask.completions], dtype=torch.float64)
        assert torch.allclose(got, torch.topk(expected, 4).values, atol=1e-6)
    with pytest.raises(MissingMaskError, match=r"write <mask> \(or this model's own mask token <special1>\)"):
        fill_mask(model, texts("Le chat dort ."))
