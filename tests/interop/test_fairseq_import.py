"""Import fairseq RoBERTa/CamemBERT folders (model.pt + dict.txt + sentencepiece.bpe.model).

Without fairseq: the tokenizer against SentencePiece and transformers' CamemBERT tokenizer, the weight
mapping on a checkpoint laid out by hand, the dispatch and the errors. With fairseq (``fairseq-fixed``,
marked ``fairseq``): a tiny RoBERTa that fairseq itself trains for a few updates and saves, imported and
compared with ``RobertaModel.from_pretrained`` -- ids, hidden states, MLM logits, fill-mask --, also in the
2019 layout of the released CamemBERT (``args`` Namespace, ``decoder.*``, fused ``in_proj``).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from tests.interop.test_fairseq_hydra_isolation import fairseq, fairseq_configs  # noqa: F401 (fixture)
from workbench.artifacts.model_folder import load_model_folder
from workbench.inference.inputs import Text
from workbench.interop.fairseq_dictionary import read_fairseq_dictionary
from workbench.interop.fairseq_import import convert_fairseq, import_fairseq, is_fairseq_folder
from workbench.interop.fairseq_sentencepiece import fairseq_tokenizer
from workbench.interop.hf_config import InteropError
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

EDGE_CASES = [
    "  deux  espaces\tune tabulation ", "\u00a0insécable\u00a0 et idéographique\u3000", "ｐｌｅｉｎｅ ｌａｒｇｅｕｒ ① ﬁn",
    "émoji 😀😀 au milieu x😀y", "", " ", "日本語", "l'apostrophe ’ typographique", "ligne\nsuivante",
]
SENTENCES = ["Le chat dort sur le canapé depuis ce matin.", "Où est la bibliothèque ?", "Oui.",
             "Une phrase un peu plus longue, avec des virgules, des accents (été, où, ça) et des chiffres : 1848."]
# ours against fairseq (or transformers), both float32, relative to each tensor's scale: fairseq runs the same torch
# ops (measured 0 on AVX-512, AVX2 and scalar ATEN_CPU_CAPABILITY=default kernels), transformers up to 16 float32 eps
# (tests/interop/test_transformers_roundtrip.py); 1e-5 = 84 eps, while two swapped attention heads are 1e-3 of the
# scale or more (test_release_imports_like_fairseq).
RTOL = 1e-5


@pytest.fixture(scope="module")
def prose(shared_data: Path) -> tuple[list[str], list[str]]:
    files = sorted((shared_data / "french_prose" / "eltec_fra_plain1").glob("*.txt"))
    if len(files) < 2:
        pytest.skip("french_prose is missing")
    train = [line for line in files[0].read_text(encoding="utf-8").splitlines() if line.strip()][:3000]
    held_out = [line for line in files[1].read_text(encoding="utf-8").splitlines() if line.strip()][:300]
    return train, held_out


def _vocabulary(folder: Path, lines: list[str], model_type: str) -> Path:
    """A CamemBERT-style release vocabulary: SentencePiece (NFKC, dummy prefix) and a dict.txt listing every
    piece in SentencePiece order, its control pieces re-listed with #fairseq:overwrite as CamemBERT's is."""
    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.Train(sentence_iterator=iter(lines), model_writer=model, vocab_size=400, model_type=model_type,
                                   character_coverage=0.995, minloglevel=2, num_threads=1)
    (folder / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    counts = [0] * sp.get_piece_size()
    for ids in sp.encode(lines[:500]):
        for i in ids:
            counts[i] += 1
    rows = [f"{sp.id_to_piece(i)} {counts[i]}" + (" #fairseq:overwrite" if sp.is_control(i) or sp.is_unknown(i) else "")
            for i in range(sp.get_piece_size())]
    (folder / "dict.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def vocabulary(request, tmp_path_factory, prose) -> Path:
    return _vocabulary(tmp_path_factory.mktemp(f"vocab-{request.param}"), prose[0], request.param)


@pytest.fixture(scope="module")
def unigram_vocabulary(tmp_path_factory, prose) -> Path:
    return _vocabulary(tmp_path_factory.mktemp("vocab"), prose[0], "unigram")


# --------------------------------------------------------------------------------------------- tokenizer
def test_tokenizer_ids_are_fairseq_lookups_of_sentencepiece_pieces(vocabulary, prose):
    sp = spm.SentencePieceProcessor(model_file=str(vocabulary / "sentencepiece.bpe.model"))
    tokenizer = fairseq_tokenizer(vocabulary / "sentencepiece.bpe.model", read_fairseq_dictionary(vocabulary / "dict.txt"))
    # this dict lists the SentencePiece vocabulary in order after fairseq's 4 specials: index = 4 + piece id,
    # and a piece SentencePiece cannot name (id 0) is fairseq's <unk> = 3 (transformers' CamembertTokenizer rule)
    for text in prose[1] + EDGE_CASES:
        expected = [3 if i == 0 else 4 + i for i in sp.encode(text)]
        assert tokenizer.encode(text) == expected, text
    # CamemBERT's quirk: <s> and </s> are looked up at their overwritten indices 5 and 6; 0 and 2 are NOTUSED
    assert (tokenizer.cls_id, tokenizer.pad_id, tokenizer.sep_id, tokenizer.unk_id) == (5, 1, 6, 3)
    assert tokenizer.mask_id == tokenizer.vocab_size - 1 == 4 + sp.get_piece_size()
    assert [tokenizer.id_to_token(i) for i in range(5)] == ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>", "<unk>NOTUSED"]
    assert tokenizer.build_inputs([10, 11], [12]) == ([5, 10, 11, 6, 6, 12, 6], [0] * 7)


def test_tokenizer_equals_transformers_camembert_tokenizer(unigram_vocabulary, prose, transformers):
    reference = transformers.CamembertTokenizerFast.from_pretrained(str(unigram_vocabulary))  # reads sentencepiece.bpe.model
    tokenizer = fairseq_tokenizer(unigram_vocabulary / "sentencepiece.bpe.model",
                                  read_fairseq_dictionary(unigram_vocabulary / "dict.txt"))
    assert tokenizer.vocab_size == len(reference)
    for text in prose[1][:100] + EDGE_CASES + ["Le <mask> dort."]:
        assert tokenizer.build_inputs(tokenizer.encode(text))[0] == reference(text)["input_ids"], text


def test_dictionary_errors_name_the_line(tmp_path, unigram_vocabulary):
    bad = tmp_path / "dict.txt"
    bad.write_text("▁le 10\n▁la 5\n▁le 3\n", encoding="utf-8")
    with pytest.raises(InteropError, match=r"dict.txt:3: duplicate symbol '▁le'.*#fairseq:overwrite"):
        read_fairseq_dictionary(bad)
    bad.write_text("▁le 10\n▁la cinq\n", encoding="utf-8")
    with pytest.raises(InteropError, match=r"dict.txt:2: expected '<token> <count> \[flags\]'"):
        read_fairseq_dictionary(bad)
    # a dictionary missing SentencePiece pieces cannot be reproduced exactly: refused, naming them
    lines = (unigram_vocabulary / "dict.txt").read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join(lines[:-20]) + "\n", encoding="utf-8")
    with pytest.raises(InteropError, match=r"20 SentencePiece pieces are not in dict.txt"):
        fairseq_tokenizer(unigram_vocabulary / "sentencepiece.bpe.model", read_fairseq_dictionary(bad))


# ---------------------------------------------------------------------- a checkpoint laid out by hand
def _fairseq_state(model: PretrainingModel, legacy: bool) -> dict:
    """fairseq RoBERTa tensor names for a workbench model (0.12 layout, or the 2019 one of CamemBERT)."""
    ours = model.state_dict()
    hidden = model.config.hidden_size
    root = "decoder." if legacy else "encoder."
    s = root + "sentence_encoder."
    state = {s + "embed_tokens.weight": ours["encoder.embeddings.word_embeddings.weight"],
             s + "embed_positions.weight": ours["encoder.embeddings.position_embeddings.weight"],
             s + "version": torch.tensor([2.0])}
    norm = "emb_layer_norm" if legacy else "layernorm_embedding"
    for kind in ("weight", "bias"):
        state[f"{s}{norm}.{kind}"] = ours[f"encoder.embeddings.norm.{kind}"]
        for i in range(model.config.num_layers):
            a, b = f"{s}layers.{i}.", f"encoder.layers.{i}."
            qkv = ours[f"{b}attention.qkv.{kind}"]
            if legacy:
                state[f"{a}self_attn.in_proj_{kind}"] = qkv
            else:
                for j, name in enumerate("qkv"):
                    state[f"{a}self_attn.{name}_proj.{kind}"] = qkv[j * hidden:(j + 1) * hidden]
            for theirs, mine in (("self_attn.out_proj", "attention.out"), ("self_attn_layer_norm", "attention_norm"),
                                 ("fc1", "mlp.up"), ("fc2", "mlp.down"), ("final_layer_norm", "mlp_norm")):
                state[f"{a}{theirs}.{kind}"] = ours[f"{b}{mine}.{kind}"]
        state[f"{root}lm_head.dense.{kind}"] = ours[f"mlm_head.dense.{kind}"]
        state[f"{root}lm_head.layer_norm.{kind}"] = ours[f"mlm_head.norm.{kind}"]
    state[f"{root}lm_head.weight"] = ours["mlm_head.decoder.weight"]
    state[f"{root}lm_head.bias"] = ours["mlm_head.bias"]
    head = "classification_heads.sentiment."
    state.update({head + "dense.weight": torch.zeros(hidden, hidden), head + "dense.bias": torch.zeros(hidden),
                  head + "out_proj.weight": torch.zeros(3, hidden), head + "out_proj.bias": torch.zeros(3)})
    return state


@pytest.fixture(scope="module")
def handmade(tmp_path_factory, unigram_vocabulary):
    """A fairseq folder whose model.pt holds a known workbench model, in the released CamemBERT layout."""
    torch.manual_seed(0)
    dictionary = read_fairseq_dictionary(unigram_vocabulary / "dict.txt")
    config = EncoderConfig(family="camembert", vocab_size=len(dictionary), hidden_size=32, num_layers=2, num_heads=4,
                           intermediate_size=48, max_positions=40, position_offset=2, pad_token_id=1, type_vocab_size=1,
                           pooler=False, layer_norm_eps=1e-5, dropout=0.0, attention_dropout=0.0)
    model = randomize_weights(PretrainingModel(config))
    with torch.no_grad():
        model.encoder.embeddings.token_type_embeddings.weight.zero_()  # fairseq has no token types
    folder = tmp_path_factory.mktemp("handmade")
    shutil.copy(unigram_vocabulary / "dict.txt", folder / "dict.txt")
    shutil.copy(unigram_vocabulary / "sentencepiece.bpe.model", folder / "sentencepiece.bpe.model")
    args = argparse.Namespace(arch="roberta_base", encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=48,
                              encoder_attention_heads=4, max_positions=40, dropout=0.0, attention_dropout=0.0,
                              activation_fn="gelu", task="masked_lm")
    torch.save({"args": args, "model": _fairseq_state(model, legacy=True), "optimizer_history": [], "extra_state": {}},
               folder / "model.pt")
    return folder, model


def test_handmade_checkpoint_imports_exactly(handmade, tmp_path):
    folder, model = handmade
    imported = import_fairseq(folder)
    assert imported.ignored == [f"classification_heads.sentiment.{n}" for n in ("dense.bias", "dense.weight",
                                "out_proj.bias", "out_proj.weight")] + ["encoder.sentence_encoder.version"]
    assert imported.config.num_heads == 4 and imported.config.max_positions == 40 and not imported.config.pooler
    mine = model.state_dict()
    for key, tensor in imported.model.state_dict().items():
        assert torch.equal(tensor, mine[key]), key
    # the fairseq 0.12 layout: cfg dict whose model entry is a Namespace, encoder.* names, separate q/k/v
    modern = tmp_path / "modern"
    shutil.copytree(folder, modern)
    legacy = torch.load(folder / "model.pt", weights_only=False)  # written by this test's fixture
    torch.save({"args": None, "cfg": {"model": legacy["args"], "task": {"_name": "masked_lm"}},
                "model": _fairseq_state(model, legacy=False)}, modern / "model.pt")
    for key, tensor in import_fairseq(modern).model.state_dict().items():
        assert torch.equal(tensor, mine[key]), key


def test_fairseq_folder_is_accepted_wherever_a_model_path_is(handmade, tmp_path):
    from workbench.evaluation.models import load_for_task
    from workbench.inference.fill_mask import fill_mask
    from workbench.inference.model_loading import load_embedder, load_masked_lm, resolve_model_path

    folder, model = handmade
    assert is_fairseq_folder(folder) and resolve_model_path(str(folder), "embed.model") == ("fairseq", folder)
    texts = [Text(str(i), f"{s[:-1]} <mask>.", "t") for i, s in enumerate(SENTENCES[:3])]
    direct = fill_mask(load_masked_lm(str(folder)), texts, top_k=3)
    converted = convert_fairseq(folder, tmp_path / "model")
    loaded = load_model_folder(converted)
    assert loaded.encoder_config == import_fairseq(folder).config
    assert loaded.manifest["config"]["checkpoint_sha256"] == import_fairseq(folder).checkpoint_sha256
    again = fill_mask(load_masked_lm(str(converted)), texts, top_k=3)
    for a, b in zip(direct, again):
        assert [(c.token_id, round(c.probability, 9)) for c in a.masks[0].completions] == \
               [(c.token_id, round(c.probability, 9)) for c in b.masks[0].completions]
    # the probabilities are the model's: recompute from the original workbench model
    tokenizer = loaded.tokenizer
    ids = torch.tensor([tokenizer.build_inputs(tokenizer.encode(texts[0].text))[0]])
    with torch.no_grad():
        probs = model.mlm_head(model.encoder(ids, torch.ones_like(ids)))[0].softmax(-1)
    position = direct[0].masks[0].position
    assert abs(direct[0].masks[0].completions[0].probability - probs[position].max().item()) < 1e-6
    # the converted folder exports to transformers: CamembertForMaskedLM and its tokenizer give the same results
    from workbench.interop.transformers_export import export_to_transformers

    transformers = pytest.importorskip("transformers")
    hf_dir = export_to_transformers(import_fairseq(folder).model, tmp_path / "hf", tokenizer_dir=converted / "tokenizer")
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf_dir))
    hf_model = transformers.AutoModelForMaskedLM.from_pretrained(str(hf_dir)).eval()
    assert type(hf_model).__name__ == "CamembertForMaskedLM"
    inputs = hf_tokenizer([s for s in SENTENCES[:3]], padding=True, return_tensors="pt")
    for row, text in enumerate(SENTENCES[:3]):
        ids = tokenizer.build_inputs(tokenizer.encode(text))[0]
        assert inputs["input_ids"][row, : len(ids)].tolist() == ids
    with torch.no_grad():
        theirs = hf_model(**inputs).logits
        ours = model.mlm_head(model.encoder(inputs["input_ids"], inputs["attention_mask"]))
    keep = inputs["attention_mask"].bool()
    assert_close_scaled(ours[keep], theirs[keep], RTOL, "logits")
    embedder = load_embedder(str(folder))
    assert embedder.source == "fairseq" and embedder.max_positions == 40
    task = load_for_task(folder, "classification", 3)
    assert task.source == "fairseq" and task.model.model.head.out.out_features == 3
    assert torch.equal(task.model.model.encoder.embeddings.word_embeddings.weight,
                       model.encoder.embeddings.word_embeddings.weight)


def test_import_errors(handmade, tmp_path):
    folder, _ = handmade
    with pytest.raises(InteropError, match="does not exist"):
        import_fairseq(tmp_path / "nothing")
    broken = tmp_path / "nospm"
    shutil.copytree(folder, broken)
    (broken / "sentencepiece.bpe.model").unlink()
    with pytest.raises(InteropError, match="only SentencePiece vocabularies"):
        import_fairseq(broken)
    shutil.copy(folder / "sentencepiece.bpe.model", broken / "sentencepiece.bpe.model")
    with open(broken / "dict.txt", "a", encoding="utf-8") as handle:
        handle.write("madeupword0000 0\n")
    with pytest.raises(InteropError, match=r"embeddings have \d+ rows but .*dict.txt gives \d+ symbols"):
        import_fairseq(broken)


# ------------------------------------------------------------------------------- against real fairseq
def _train_fairseq_roberta(work: Path, vocab: Path, lines: list[str]) -> Path:
    """fairseq-preprocess + fairseq-train (3 updates, in process) a tiny RoBERTa; returns the checkpoint."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq_cli import preprocess, train

    sp = spm.SentencePieceProcessor(model_file=str(vocab / "sentencepiece.bpe.model"))
    for name, part in (("train", lines[:1500]), ("valid", lines[1500:1600])):
        (work / f"{name}.spm").write_text("\n".join(" ".join(sp.encode(l, out_type=str)) for l in part) + "\n", encoding="utf-8")
    data = work / "data-bin"
    preprocess.main(options.get_preprocessing_parser().parse_args([
        "--only-source", "--srcdict", str(vocab / "dict.txt"), "--trainpref", str(work / "train.spm"),
        "--validpref", str(work / "valid.spm"), "--destdir", str(data), "--workers", "1"]))
    shutil.copy(vocab / "dict.txt", data / "dict.txt")  # fairseq-preprocess rewrites it without the overwrite flags
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--task", "masked_lm", "--criterion", "masked_lm", "--arch", "roberta_base",
        "--encoder-layers", "2", "--encoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
        "--encoder-attention-heads", "4", "--max-positions", "64", "--tokens-per-sample", "64",
        "--sample-break-mode", "complete", "--skip-invalid-size-inputs-valid-test", "--optimizer", "adam",
        "--lr", "0.05", "--max-update", "3", "--batch-size", "16", "--cpu", "--seed", "3", "--num-workers", "0",
        "--save-dir", str(work / "checkpoints"), "--no-epoch-checkpoints", "--disable-validation", "--log-format", "none",
        "--bpe", "sentencepiece", "--sentencepiece-model", str(vocab / "sentencepiece.bpe.model")])
    train.main(convert_namespace_to_omegaconf(args))
    return work / "checkpoints" / "checkpoint_last.pt"


@pytest.fixture(scope="module")
def release(tmp_path_factory, unigram_vocabulary, prose) -> Path:
    """The released layout (model.pt, dict.txt, sentencepiece.bpe.model) of a RoBERTa fairseq trained and saved."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with fairseq_configs():
            checkpoint = _train_fairseq_roberta(tmp_path_factory.mktemp("fairseq-train"), unigram_vocabulary, prose[0])
    finally:
        torch.set_num_threads(threads)
    folder = tmp_path_factory.mktemp("camembert-tiny")
    shutil.copy(checkpoint, folder / "model.pt")
    for name in ("dict.txt", "sentencepiece.bpe.model"):
        shutil.copy(unigram_vocabulary / name, folder / name)
    return folder


def _from_pretrained(folder: Path, cls: str = "RobertaModel"):
    from fairseq.models import roberta

    # fairseq's own torch.load predates torch 2.6's weights_only default and fails on the argparse.Namespace
    # fairseq itself stored; we allow that one class for fairseq's loader (this test wrote the file)
    with torch.serialization.safe_globals([argparse.Namespace]):
        hub = getattr(roberta, cls).from_pretrained(str(folder), checkpoint_file="model.pt", bpe="sentencepiece")
    return hub.eval()


def _batch(hub, texts):
    encoded = [hub.encode(text) for text in texts]
    tokens = torch.full((len(encoded), max(len(e) for e in encoded)), hub.task.source_dictionary.pad(), dtype=torch.long)
    for row, ids in enumerate(encoded):
        tokens[row, : len(ids)] = ids
    return tokens


def _compare(hub, model: PretrainingModel, texts) -> float:
    tokens = _batch(hub, texts)
    keep = tokens.ne(hub.task.source_dictionary.pad())
    with torch.no_grad():
        logits, extra = hub.model(tokens, return_all_hiddens=True)
        theirs = [state.transpose(0, 1) for state in extra["inner_states"]]
        ours = model.encoder(tokens, keep.long(), torch.zeros_like(tokens), output_hidden_states=True)
        our_logits = model.mlm_head(model.encoder(tokens, keep.long()))
    assert len(ours) == len(theirs) == model.config.num_layers + 1
    pairs = [*zip(ours, theirs), (our_logits, logits)]
    # relative to each tensor's scale (see RTOL): hidden states and logits have different sizes
    return max(float((a[keep] - b[keep]).abs().max() / b[keep].abs().max()) for a, b in pairs)


@pytest.mark.fairseq
def test_checkpoint_written_by_fairseq_needs_the_restricted_unpickler(fairseq, release):
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(release / "model.pt", weights_only=True)
    imported = import_fairseq(release)
    hub = _from_pretrained(release)
    assert imported.ignored == ["encoder.sentence_encoder.version"]
    assert imported.config.num_layers == 2 and imported.config.num_heads == 4 and imported.config.max_positions == 64
    theirs = hub.model.state_dict()
    assert torch.equal(imported.model.encoder.embeddings.word_embeddings.weight, theirs["encoder.sentence_encoder.embed_tokens.weight"])
    assert torch.equal(imported.model.mlm_head.bias, theirs["encoder.lm_head.bias"])


@pytest.mark.fairseq
def test_outputs_equal_fairseq(fairseq, release, prose):
    torch.set_num_threads(1)
    hub = _from_pretrained(release)
    imported = import_fairseq(release)
    texts = SENTENCES + [t for t in prose[1] if len(hub.encode(t)) <= imported.config.max_positions][:6]
    assert _compare(hub, imported.model, texts) <= RTOL
    # the comparison is sharp: the same model with two heads' query rows swapped is far off
    broken = PretrainingModel(imported.config).eval()
    broken.load_state_dict(imported.model.state_dict())
    with torch.no_grad():
        qkv = broken.encoder.layers[0].attention.qkv.weight
        qkv[:8] = qkv[8:16].clone()
    assert _compare(hub, broken, texts) > 1e-3


@pytest.mark.fairseq
def test_tokenizer_equals_fairseq_encode(fairseq, release, prose):
    hub = _from_pretrained(release)
    tokenizer = import_fairseq(release).tokenizer
    for text in prose[1] + EDGE_CASES:
        assert tokenizer.build_inputs(tokenizer.encode(text))[0] == hub.encode(text).tolist(), text
    first, second = SENTENCES[0], SENTENCES[1]
    assert tokenizer.build_inputs(tokenizer.encode(first), tokenizer.encode(second))[0] == hub.encode(first, second).tolist()


@pytest.mark.fairseq
def test_fill_mask_equals_fairseq(fairseq, release, tmp_path):
    """Same input ids and top-k probabilities as fairseq's ``fill_mask``. Its printed output is not used:
    ``Dictionary.string`` drops special symbols from the top-k, after which fairseq pairs the remaining
    words with the wrong probabilities; the reference is its own encoding and model instead."""
    from workbench.inference.fill_mask import encode_masked, fill_mask
    from workbench.inference.model_loading import load_masked_lm

    torch.set_num_threads(1)
    hub = _from_pretrained(release, "CamembertModel")
    texts = ["Le <mask> dort sur le canapé.", "Il était une <mask> dans la forêt.", "<mask> !"]
    for model_path in (release, convert_fairseq(release, tmp_path / "converted")):
        model = load_masked_lm(str(model_path))
        ours = fill_mask(model, [Text(str(i), t, "t") for i, t in enumerate(texts)], top_k=5)
        for text, result in zip(texts, ours):
            spans = " <mask> ".join(hub.bpe.encode(span.rstrip()) for span in text.split("<mask>")).strip()
            tokens = hub.task.source_dictionary.encode_line(f"<s> {spans} </s>", append_eos=False, add_if_not_exist=False).long()
            assert model.tokenizer.build_inputs(encode_masked(model, Text("0", text, "t")))[0] == tokens.tolist()
            with torch.no_grad():
                logits = hub.model(tokens[None])[0][0, tokens == hub.task.mask_idx][0]
            top = logits.double().softmax(-1).topk(5)
            completions = result.masks[0].completions
            assert [c.token_id for c in completions] == top.indices.tolist()
            assert [c.probability for c in completions] == pytest.approx(top.values.tolist(), abs=1e-6)


@pytest.mark.fairseq
def test_released_2019_layout_imports_like_fairseq(fairseq, release, tmp_path):
    """args Namespace instead of cfg, decoder.* names, emb_layer_norm, fused in_proj: what CamemBERT shipped."""
    torch.set_num_threads(1)
    with torch.serialization.safe_globals([argparse.Namespace]):
        modern = torch.load(release / "model.pt", weights_only=True)
    imported = import_fairseq(release)
    legacy_dir = tmp_path / "camembert-2019"
    shutil.copytree(release, legacy_dir)
    torch.save({"args": modern["cfg"]["model"], "model": _fairseq_state(imported.model, legacy=True),
                "optimizer_history": modern["optimizer_history"], "extra_state": modern["extra_state"]},
               legacy_dir / "model.pt")
    hub = _from_pretrained(legacy_dir)
    legacy = import_fairseq(legacy_dir)
    assert _compare(hub, legacy.model, SENTENCES) <= RTOL
    for key, tensor in legacy.model.state_dict().items():
        assert torch.equal(tensor, imported.model.state_dict()[key]), key


def test_command_line(handmade, tmp_path, capsys):
    from workbench.cli import main

    folder, model = handmade
    assert main(["fairseq", "import-model", str(folder), str(tmp_path / "out")]) == 0
    assert torch.equal(load_model_folder(tmp_path / "out").state_dict["mlm_head.bias"], model.mlm_head.bias)
    assert main(["fairseq", "import-model", str(tmp_path / "absent"), str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"workbench fairseq import-model: error: fairseq model folder {tmp_path / 'absent'} does not exist"]


def test_imported_folder_gives_the_models_limit_as_model_max_length(handmade, tmp_path, transformers):
    """128-position CamemBERT-style models have 130 position rows (padding offset 2): the limit is 40 here, the
    usable positions, so AutoTokenizer's truncation never overflows the table."""
    from workbench.interop.fairseq_import import convert_fairseq

    folder, model = handmade
    out = convert_fairseq(folder, tmp_path / "imported")
    limit = json.loads((out / "tokenizer" / "tokenizer_config.json").read_text(encoding="utf-8"))["model_max_length"]
    assert limit == model.config.max_positions == 40
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    assert len(tokenizer("le chat dort " * 400, truncation=True)["input_ids"]) == 40
