"""``python -m workbench fill-mask`` / ``embed`` as users call them (subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np


def _run(repo_root, tmp_path, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo_root), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "workbench", *args, f"paths.runs={tmp_path}/runs"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)


def test_fill_mask_prints_a_table_and_rejects_a_text_without_mask(repo_root, tiny_model_dir, tmp_path):
    result = _run(repo_root, tmp_path, "fill-mask", f"fill_mask.model={tiny_model_dir}", 'fill_mask.text="Le camembert est <mask> !"',  # Hydra needs the quotes
                  "fill_mask.top_k=3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[text] Le camembert est <mask> !" and lines[1].startswith("  mask (token 4)")
    probabilities = [float(line.split()[2]) for line in lines[2:5]]
    assert len(probabilities) == 3 and sorted(probabilities, reverse=True) == probabilities and sum(probabilities) <= 1.0
    bad = _run(repo_root, tmp_path, "fill-mask", f"fill_mask.model={tiny_model_dir}", "fill_mask.text='Pas de masque.'")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "fill_mask.text: no mask token in 'Pas de masque.'; write <mask>" in bad.stderr


def test_embed_writes_npy(repo_root, tiny_model_dir, tmp_path):
    (tmp_path / "texts.txt").write_text("Bonjour.\nAu revoir.\n", encoding="utf-8")
    result = _run(repo_root, tmp_path, "embed", f"embed.model={tiny_model_dir}", "embed.input_file=texts.txt", "embed.output=emb.npy",
                  "embed.layers=concat_last_four")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "emb.npy").shape == (2, 4 * 32)
    assert (tmp_path / "emb.ids.jsonl").exists() and (tmp_path / "emb.manifest.json").exists()
