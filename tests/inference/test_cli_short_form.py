"""The short command form of issue #8, ``python -m workbench fill-mask model=<dir> text="Le camembert est <mask> !"``
(and ``embed model=... input_file=...``), typed exactly so in a shell: the short keys reach the stage's own config
keys with the text verbatim, the long form gives the same config, and the results are the stage's results."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from workbench.cli import SHORT_KEYS, expand_short_keys
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.inference.embeddings import cosine_similarity, sentence_embeddings
from workbench.inference.fill_mask import fill_mask
from workbench.inference.inputs import Text
from workbench.inference.model_loading import load_embedder, load_masked_lm

# Texts a shell passes through unchanged inside "...": Hydra's grammar would reject most of them unquoted.
AWKWARD_TEXTS = [
    "Le camembert est <mask> !",
    "Qu'il <mask>, dit-elle : « oui », (enfin) [peut-être] {non}",
    'Il a dit "<mask>" puis a=b, c=d',
    r"un \ antislash <mask> et un dernier \\",
    "le prix : ${cout} ou $5 <mask>",
    "  espaces autour <mask>  ",
]


def _compose(config_name: str, overrides):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return to_typed(compose(config_name=config_name, overrides=overrides))


def _env(repo_root):
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}


def _shell(repo_root, tmp_path, command: str):
    """``command`` run by /bin/sh, as a user types it (the shell does the quoting)."""
    return subprocess.run(f"{shlex.quote(sys.executable)} -m workbench {command} paths.runs={shlex.quote(str(tmp_path / 'runs'))}",
                          shell=True, capture_output=True, text=True, cwd=tmp_path, env=_env(repo_root), timeout=300)


@pytest.mark.parametrize("text", AWKWARD_TEXTS)
def test_short_text_reaches_fill_mask_text_verbatim(text, tmp_path):
    model = str(tmp_path / "a folder with spaces" / "model")
    cfg = _compose("fill_mask", expand_short_keys("fill-mask", [f"model={model}", f"text={text}", "top_k=3"]))
    assert cfg.fill_mask.text == text and cfg.fill_mask.model == model and cfg.fill_mask.top_k == 3
    assert cfg.model is None  # model= did not select a conf/model/ group


def test_short_and_long_forms_compose_the_same_config(tmp_path):
    short = ["model=runs/q/model", "input_file=texts.txt", "output=out.jsonl", "top_k=7", "batch_size=4"]
    long = ["fill_mask.model=runs/q/model", "fill_mask.input_file=texts.txt", "fill_mask.output=out.jsonl",
            "fill_mask.top_k=7", "fill_mask.batch_size=4"]
    assert _compose("fill_mask", expand_short_keys("fill-mask", short)).fill_mask == _compose("fill_mask", long).fill_mask
    short = ["model=m", "input_file=t.txt", "output=e.npy", "layers=sum_last_four", "pooling=cls", "batch_size=2",
             'similarity=["a b","c, d"]']
    long = [f"embed.{arg}" for arg in short]
    embed = _compose("embed", expand_short_keys("embed", short)).embed
    assert embed == _compose("embed", long).embed and embed.similarity == ["a b", "c, d"] and embed.pooling == "cls"
    assert _compose("embed", expand_short_keys("embed", ["layer=2"])).embed.layer == 2
    # Hydra-quoted values (the long form's habit) are taken as Hydra reads them, not quoted twice
    assert _compose("fill_mask", expand_short_keys("fill-mask", ['text="a <mask> b"'])).fill_mask.text == "a <mask> b"


def test_only_the_listed_keys_of_the_inference_stages_are_rewritten():
    assert set(SHORT_KEYS) == {"fill-mask", "embed", "predict"}
    untouched = ["+model=bert_tiny", "fill_mask.text=x", "hydra.verbose=true", "model.hidden_size=64", "-m", "seed=1"]
    assert expand_short_keys("fill-mask", untouched) == untouched
    assert expand_short_keys("train", ["model=bert_tiny", "text=x"]) == ["model=bert_tiny", "text=x"]
    assert expand_short_keys("embed", ["text=x"]) == ["text=x"]  # embed has no text key: Hydra reports it
    for stage, table in SHORT_KEYS.items():
        config_key = stage.replace("-", "_")
        assert all(target == f"{config_key}.{key}" for key, (target, _) in table.items())


def test_fill_mask_command_as_written_in_the_issue(repo_root, tiny_model_dir, tmp_path):
    result = _shell(repo_root, tmp_path, f'fill-mask model={shlex.quote(str(tiny_model_dir))} text="Le camembert est <mask> !" top_k=3')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[text] Le camembert est <mask> !" and lines[1].startswith("  mask (token 4)")
    (expected,) = fill_mask(load_masked_lm(str(tiny_model_dir)), [Text("text", "Le camembert est <mask> !", "t")], top_k=3)
    printed = [line.split() for line in lines[2:5]]
    assert [int(row[-1].rstrip(")")) for row in printed] == [c.token_id for c in expected.masks[0].completions]
    assert [float(row[2]) for row in printed] == pytest.approx([c.probability for c in expected.masks[0].completions], abs=1e-4)


def test_short_form_text_without_mask_is_one_clear_error(repo_root, tiny_model_dir, tmp_path):
    result = _shell(repo_root, tmp_path, f'fill-mask model={shlex.quote(str(tiny_model_dir))} text="Pas de masque ici !"')
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "workbench fill-mask: error: fill_mask.text: no mask token in 'Pas de masque ici !'; write <mask> where a word is to be predicted"
    )


def test_embed_short_form_writes_the_file_and_the_similarity(repo_root, tiny_model_dir, tmp_path):
    lines = ["Bonjour à tous.", "Le camembert est un fromage normand."]
    (tmp_path / "texts.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _shell(repo_root, tmp_path, f"embed model={shlex.quote(str(tiny_model_dir))} input_file=texts.txt output=emb.npy "
                    f"""layers=sum_last_four 'similarity=["{lines[0]}","{lines[1]}"]'""")
    assert result.returncode == 0, result.stderr
    model = load_embedder(str(tiny_model_dir))
    texts = [Text(str(i), line, "t") for i, line in enumerate(lines, start=1)]
    expected = sentence_embeddings(model, texts, "sum_last_four", None, "mean", 32)
    np.testing.assert_allclose(np.load(tmp_path / "emb.npy"), expected, rtol=1e-5, atol=1e-6)
    cosine = float(result.stdout.strip().splitlines()[-1].rsplit(":", 1)[1])
    assert cosine == pytest.approx(cosine_similarity(expected[0], expected[1]), abs=1e-6)
