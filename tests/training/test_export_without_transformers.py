"""The run's transformers export needs only files: written where transformers is not installed, it loads later in
transformers with the workbench model's logits, and its config.json is what transformers' save_pretrained writes.
Every export (run export, model folder, fairseq import) writes the model's real input limit as model_max_length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import save_file

from tests.helpers import randomize_weights
from tests.interop.test_transformers_roundtrip import FAMILIES
from workbench.artifacts.tensor_files import independent_tensors
from workbench.interop.transformers_export import to_transformers_model
from workbench.interop.transformers_files import transformers_config_json
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel

VOCAB = 3000  # the sample tokenizer's
TINY = EncoderConfig(family="camembert", size="tiny", vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=4,
                     intermediate_size=64, max_positions=40, position_offset=2, pad_token_id=1, type_vocab_size=1,
                     layer_norm_eps=1e-5, dropout=0.0, attention_dropout=0.0)
CONFIGS = {"camembert": TINY, "bert": EncoderConfig(size="tiny", vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=4,
                                                    intermediate_size=64, max_positions=40, dropout=0.0, attention_dropout=0.0)}

BLOCKED_EXPORT = textwrap.dedent("""
    import importlib.abc, json, sys
    class NoTransformers(importlib.abc.MetaPathFinder):  # the quickstart's environment: transformers not installed
        def find_spec(self, name, path=None, target=None):
            if name == "transformers" or name.startswith("transformers."):
                raise ModuleNotFoundError(f"No module named {name!r}")
    sys.meta_path.insert(0, NoTransformers())
    from safetensors.torch import load_file
    from workbench.model.config import EncoderConfig
    from workbench.training.export import export_pretrained, transformers_missing
    assert transformers_missing() is not None
    for job in json.loads(sys.argv[1]):
        config = EncoderConfig(**job["config"])
        assert export_pretrained(load_file(job["state"]), config, __import__("pathlib").Path(job["tokenizer"]),
                                 __import__("pathlib").Path(job["target"])) is not None
    assert "transformers" not in sys.modules
""")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_config_json_is_what_transformers_writes(name, tmp_path, transformers):
    model = PretrainingModel(FAMILIES[name], nsp=False)
    to_transformers_model(model).save_pretrained(str(tmp_path))
    theirs = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    theirs.pop("transformers_version")
    assert transformers_config_json(model) == theirs


def test_export_written_without_transformers_loads_with_the_same_logits(sample_artifacts, tmp_path, transformers, repo_root):
    torch.manual_seed(0)
    tokenizer_dir = sample_artifacts.root / "tokenizers" / "sample-sentencepiece"
    jobs, models = [], {}
    for name, config in CONFIGS.items():
        models[name] = randomize_weights(PretrainingModel(config)).eval()
        state = tmp_path / f"{name}.safetensors"
        save_file(independent_tensors(models[name].state_dict()), str(state))
        jobs.append({"config": config.__dict__, "state": str(state), "tokenizer": str(tokenizer_dir), "target": str(tmp_path / name)})
    env = {**os.environ, "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", BLOCKED_EXPORT, json.dumps(jobs)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = "Le camembert est un fromage normand. " * 200  # well over 1000 tokens
    for name, model in models.items():
        folder = tmp_path / name
        reference = tmp_path / f"{name}-by-transformers"
        to_transformers_model(model).save_pretrained(str(reference))
        written = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        theirs = json.loads((reference / "config.json").read_text(encoding="utf-8"))
        theirs.pop("transformers_version")
        assert written == theirs
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), "pt") as ours_file, safe_open(str(reference / "model.safetensors"), "pt") as ref:
            assert set(ours_file.keys()) == set(ref.keys())
        hf_model = transformers.AutoModelForMaskedLM.from_pretrained(str(folder)).eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
        assert tokenizer.model_max_length == model.config.max_positions == 40
        assert len(tokenizer(text)["input_ids"]) > 1000
        inputs = tokenizer(text, truncation=True, return_tensors="pt", return_token_type_ids=False)
        assert inputs["input_ids"].shape[1] == 40
        with torch.no_grad():
            theirs_logits = hf_model(**inputs).logits
            ids, mask = inputs["input_ids"], inputs["attention_mask"]
            ours_logits = model.mlm_head(model.encoder(ids, mask))
        # fp32, same operations in another order: differences at the float32 rounding of logits of size ~1
        assert (ours_logits - theirs_logits).abs().max().item() <= 1e-5


def test_model_folder_and_transformers_export_write_the_models_limit(sample_artifacts, tmp_path, transformers):
    from workbench.artifacts.model_folder import save_model_folder
    from workbench.interop.transformers_export import export_to_transformers

    tokenizer_dir = sample_artifacts.root / "tokenizers" / "sample-sentencepiece"
    assert json.loads((tokenizer_dir / "tokenizer_config.json").read_text())["model_max_length"] == 512  # the tokenizer's
    model = randomize_weights(PretrainingModel(TINY)).eval()
    save_model_folder(tmp_path / "model", model.state_dict(), TINY, tokenizer_dir, {})
    assert json.loads((tmp_path / "model" / "tokenizer" / "tokenizer_config.json").read_text())["model_max_length"] == 40
    export_to_transformers(model, tmp_path / "hf", tokenizer_dir=tokenizer_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    fill = transformers.pipeline("fill-mask", model=str(tmp_path / "hf"), tokenizer=tokenizer)
    long_text = "Le <mask> est un fromage normand. " + "Il pleut sur la ville. " * 200  # > 1000 tokens
    assert tokenizer.model_max_length == 40
    # truncated to the model's 40 positions (with 512 the position table, 42 rows, overflowed: IndexError)
    assert len(fill(long_text, tokenizer_kwargs={"truncation": True})) == 5
