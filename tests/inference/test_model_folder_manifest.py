"""A model folder's manifest loads typed (workbench.artifacts.manifest), a hand-made one too, with its weights hash."""

from __future__ import annotations

import hashlib


def test_a_model_folder_manifest_is_typed_and_records_the_weights(tiny_model_dir):
    from workbench.artifacts.model_folder import load_model_folder

    loaded = load_model_folder(tiny_model_dir)
    assert loaded.weights_sha256 == hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert loaded.weights_hash == loaded.weights_sha256[:16]
    # the fixture's provenance is hand-made ({"config": {}, "note": ...}): read as written, the fields it lacks empty
    assert loaded.manifest.config == {} and loaded.manifest.config_hash is None and loaded.manifest.require("note", str)
    assert list(loaded.manifest.as_json()) == ["config", "note", "weights_sha256"]
