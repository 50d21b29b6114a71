"""What fine-tuning receives from pretraining (issue #17, section 1): every pretrained encoder tensor unchanged,
a fresh head initialized like transformers' RobertaClassificationHead, and a random-init twin of a model folder
(scripts/random_init_model.py) initialized by pretraining's own code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def pretrained_dir(tmp_path, tiny_model_dir) -> Path:
    """A model folder written the way pretraining writes it: PretrainingModel's whole state dict (MLM head too),
    with weights moved away from their initialization so that a re-initialization would show."""
    from workbench.artifacts.model_folder import load_model_folder, save_model_folder
    from workbench.model.pretraining import PretrainingModel

    source = load_model_folder(tiny_model_dir)
    torch.manual_seed(1)
    model = PretrainingModel(source.encoder_config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    return save_model_folder(tmp_path / "model", model.state_dict(), source.encoder_config,
                             tiny_model_dir / "tokenizer", {"config": {}, "note": "pretrained stand-in"})


@pytest.mark.parametrize("kind", ["classification", "token_classification", "extractive_qa"])
def test_finetuning_gets_every_pretrained_encoder_tensor(pretrained_dir, kind):
    from workbench.artifacts.model_folder import load_model_folder
    from workbench.evaluation.models import load_for_task

    pretrained = {k: v for k, v in load_model_folder(pretrained_dir).state_dict.items() if k.startswith("encoder.")}
    own = load_for_task(pretrained_dir, kind, 3).model.model.state_dict()
    assert [k for k, v in pretrained.items() if not torch.equal(own[k], v)] == []
    fresh = {k for k in own if k not in pretrained}
    assert fresh and all(k.startswith("head.") for k in fresh), fresh  # an MLM checkpoint: only the task head is new


def test_classification_head_matches_transformers_roberta_head(pretrained_dir):
    """Same layers, dropout p and init as RobertaClassificationHead: dense and out ~ N(0, 0.02), zero biases."""
    from workbench.evaluation.models import load_for_task

    torch.manual_seed(0)
    loaded = load_for_task(pretrained_dir, "classification", 2)
    head, config = loaded.model.model.head, loaded.model.model.config
    assert head.style == "dense" and head.dropout.p == config.dropout
    for layer in (head.dense, head.out):
        # std of 64*64 (resp. 2*64) N(0, 0.02) draws: relative standard error 1/sqrt(2n) <= 6.3%, so 20% is over 3 standard errors
        assert abs(float(layer.weight.detach().std()) - config.initializer_range) < 0.2 * config.initializer_range
        assert torch.count_nonzero(layer.bias) == 0


def test_random_init_twin(tmp_path, pretrained_dir):
    from workbench.artifacts.model_folder import load_model_folder
    from workbench.model.pretraining import PretrainingModel

    target = tmp_path / "random" / "model"
    subprocess.run([sys.executable, str(REPO / "scripts" / "random_init_model.py"), str(pretrained_dir), str(target),
                    "--seed", "3"], check=True, cwd=REPO, capture_output=True)
    twin, source = load_model_folder(target), load_model_folder(pretrained_dir)
    assert twin.encoder_config == source.encoder_config
    assert (target / "tokenizer" / "tokenizer.json").read_bytes() == (pretrained_dir / "tokenizer" / "tokenizer.json").read_bytes()
    torch.manual_seed(3)
    expected = PretrainingModel(source.encoder_config).state_dict()  # pretraining's init, same seed
    assert sorted(twin.state_dict) == sorted(source.state_dict)
    assert all(torch.equal(twin.state_dict[k], expected[k]) for k in expected)
    layer0 = next(k for k in expected if k.startswith("encoder.layers.0.") and k.endswith("weight"))
    assert not torch.equal(twin.state_dict[layer0], source.state_dict[layer0])  # fresh, not the pretrained weights
