"""Export to transformers gives the same logits in transformers' own classes (to float32 rounding, relative to the
logits' scale); import is lossless."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import torch

from tests.helpers import assert_close_scaled, randomize_weights
from workbench.interop.hf_config import InteropError
from workbench.interop.transformers_export import export_to_transformers
from workbench.interop.transformers_import import import_from_transformers, read_transformers_weights
from workbench.model.config import EncoderConfig
from workbench.model.encoder import Encoder
from workbench.model.finetuning import SequenceClassifier, SpanExtractor, TokenClassifier
from workbench.model.pretraining import PretrainingModel

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

BASE = EncoderConfig(size="tiny", vocab_size=101, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=128,
                     max_positions=24, dropout=0.0, attention_dropout=0.0)
FAMILIES = {
    "bert": dataclasses.replace(BASE),
    "roberta": dataclasses.replace(BASE, family="roberta", position_offset=2, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5),
    "camembert": dataclasses.replace(BASE, family="camembert", position_offset=2, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5),
    "flaubert": dataclasses.replace(BASE, family="flaubert", type_vocab_size=0, pooler=False, mlm_transform=False, pad_token_id=2),
}
FLAUBERT_VARIANTS = {
    "sinusoidal_languages": dataclasses.replace(FAMILIES["flaubert"], position_embedding="sinusoidal", num_languages=3),
    "relu": dataclasses.replace(FAMILIES["flaubert"], activation="relu"),
}


def batch(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 4:] = 0
    ids[mask == 0] = config.pad_token_id
    types = torch.zeros_like(ids)
    if config.type_vocab_size > 1:
        types[:, 5:] = 1
    langs = torch.randint(0, max(config.num_languages, 1), ids.shape, generator=g)
    return ids, mask, types, langs


def their_inputs(config, ids, mask, types, langs):
    inputs = {"input_ids": ids, "attention_mask": mask}
    if config.family != "flaubert":
        inputs["token_type_ids"] = types
    if config.num_languages > 1:
        inputs["langs"] = langs
    return inputs


# Two float32 implementations of the same 2-layer encoder (ours, transformers') differ by rounding only, measured
# over the vectorised (AVX-512, AVX2) and scalar (ATEN_CPU_CAPABILITY=default) kernels of an AMD EPYC, in float32
# eps (1.19e-7) of each output's scale: logits up to 16, the pooler's tanh output up to 29 (its scale, 1, is below
# that of its input). 1e-5 = 84 eps leaves room for other CPUs and BLAS builds; a real mismatch (a swapped head, a
# missing bias) is 1e-3 of the scale or more.
RTOL = 1e-5


def assert_same(ours, theirs, mask, what="logits"):
    keep = mask.bool()
    assert_close_scaled(ours[keep], theirs[keep], RTOL, what)


def roundtrip(model, directory):
    back = import_from_transformers(directory).model
    a, b = model.state_dict(), back.state_dict()
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    return back


@pytest.mark.parametrize("name", [*FAMILIES, *FLAUBERT_VARIANTS])
def test_mlm_export_same_logits_and_lossless_import(name, tmp_path, transformers):
    config = FAMILIES.get(name) or FLAUBERT_VARIANTS[name]
    nsp = config.family == "bert"
    model = randomize_weights(PretrainingModel(config, nsp=nsp))
    export_to_transformers(model, tmp_path / "hf")
    cls = transformers.BertForPreTraining if nsp else transformers.AutoModelForMaskedLM
    if config.family == "flaubert":
        cls = transformers.FlaubertWithLMHeadModel
    hf = cls.from_pretrained(tmp_path / "hf").eval()
    ids, mask, types, langs = batch(config)
    with torch.no_grad():
        out = hf(**their_inputs(config, ids, mask, types, langs))
        ours = model.mlm_head(model.encoder(ids, mask, types, langs))
    theirs = out.prediction_logits if nsp else out.logits
    assert_same(ours, theirs, mask)
    if nsp:
        with torch.no_grad():
            ours_nsp = model.nsp_head(model.encoder.pool(model.encoder(ids, mask, types)))
        assert_close_scaled(ours_nsp, out.seq_relationship_logits, RTOL, "NSP logits")
    assert import_from_transformers(tmp_path / "hf").kind == "pretraining"
    roundtrip(model, tmp_path / "hf")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_downstream_heads_export(family, tmp_path, transformers):
    config = FAMILIES[family]
    ids, mask, types, langs = batch(config)
    inputs = their_inputs(config, ids, mask, types, langs)
    cases = [
        (SequenceClassifier(config, 3), transformers.AutoModelForSequenceClassification, "logits"),
        (TokenClassifier(config, 5), transformers.AutoModelForTokenClassification, "logits"),
        (SpanExtractor(config), transformers.AutoModelForQuestionAnswering, "span"),
    ]
    for index, (model, auto, output) in enumerate(cases):
        randomize_weights(model, seed=index)
        folder = tmp_path / f"m{index}"
        labels = [f"tag{i}" for i in range(model.num_labels)] if output == "logits" else None
        export_to_transformers(model, folder, labels=labels)
        hf = auto.from_pretrained(folder).eval()
        with torch.no_grad():
            theirs = hf(**inputs)
            ours = model(ids, mask, types)
        if output == "span":
            assert_same(ours.start_logits, theirs.start_logits, mask)
            assert_same(ours.end_logits, theirs.end_logits, mask)
        elif ours.logits.dim() == 2:
            assert_close_scaled(ours.logits, theirs.logits, RTOL, "sequence logits")
        else:
            assert_same(ours.logits, theirs.logits, mask)
        imported = import_from_transformers(folder)
        assert imported.labels == labels
        roundtrip(model, folder)


def test_bare_encoder_export(tmp_path, transformers):
    config = FAMILIES["roberta"]
    encoder = randomize_weights(Encoder(config))
    export_to_transformers(encoder, tmp_path / "enc")
    hf = transformers.AutoModel.from_pretrained(tmp_path / "enc").eval()
    ids, mask, types, langs = batch(config)
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=mask)
        ours = encoder(ids, mask)
    assert_same(ours, out.last_hidden_state, mask, "hidden states")
    assert_close_scaled(encoder.pool(ours), out.pooler_output, RTOL, "pooler output")
    roundtrip(encoder, tmp_path / "enc")


def test_unexportable_settings_are_named(tmp_path):
    with pytest.raises(InteropError, match="norm_position must be post"):
        export_to_transformers(PretrainingModel(dataclasses.replace(BASE, norm_position="pre")), tmp_path / "x")
    with pytest.raises(InteropError, match="final_norm=false"):
        export_to_transformers(
            PretrainingModel(dataclasses.replace(FAMILIES["flaubert"], norm_position="pre")), tmp_path / "y"
        )
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_never_executed(tmp_path):
    folder = tmp_path / "evil"
    folder.mkdir()
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"x": _Payload()}, handle, protocol=2)
    with pytest.raises(InteropError, match="not a plain tensor checkpoint"):
        read_transformers_weights(folder)


def test_pre_norm_flaubert_matches_transformers_math(tmp_path, transformers):
    """FlauBERT-large layout (pre-norm, no final LayerNorm). transformers 5.x crashes in this branch
    (``cache[i]`` on an EncoderDecoderCache); an indexable cache sidesteps the bug to compare the math."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    class IndexableCache(EncoderDecoderCache):
        def __getitem__(self, index):
            return None

    config = dataclasses.replace(FAMILIES["flaubert"], norm_position="pre", final_norm=False)
    model = randomize_weights(PretrainingModel(config))
    export_to_transformers(model, tmp_path / "hf")
    hf = transformers.FlaubertWithLMHeadModel.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.pre_norm
    ids, mask, types, langs = batch(config)
    cache = IndexableCache(DynamicCache(config=hf.config), DynamicCache(config=hf.config))
    with torch.no_grad():
        theirs = hf(input_ids=ids, attention_mask=mask, cache=cache).logits
        ours = model.mlm_head(model.encoder(ids, mask))
    # logits reach ~50 here (no final norm): an absolute 1e-5 is below the float32 spacing of 50 (3.8e-6) times
    # the few roundings that separate the two computations, and failed on AVX2/AVX-512 kernels (1.8e-5 on a logit
    # of 0.24, 4e-7 of the scale); against the scale the same difference is 3 float32 eps, on any kernel.
    assert_same(ours, theirs, mask)
    roundtrip(model, tmp_path / "hf")
