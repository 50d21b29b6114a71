"""The model folder: the artifact pretraining hands to evaluation.

``model.safetensors`` (state dict: ``encoder.*`` plus head weights),
``model_config.json`` (the ``EncoderConfig`` with its vocabulary size resolved),
``tokenizer/`` (a copy of the tokenizer folder) and ``manifest.json`` (last).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping

import torch
from safetensors.torch import load_file, save_file

from workbench.artifacts.atomic import atomic_dir, write_json
from workbench.artifacts.hashing import sha256_file
from workbench.artifacts.manifest import MANIFEST_FILE, Manifest, read_manifest, write_manifest
from workbench.artifacts.tensor_files import independent_tensors
from workbench.model.config import EncoderConfig
from workbench.tokenization.export import set_model_max_length
from workbench.tokenization.tokenizer import Tokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
TOKENIZER_DIR = "tokenizer"


class ModelFolderError(ValueError):
    """A model folder is missing, unfinished or inconsistent."""


@dataclass
class LoadedModel:
    directory: Path
    encoder_config: EncoderConfig
    state_dict: Dict[str, torch.Tensor]
    tokenizer: Tokenizer
    manifest: Manifest

    @property
    def weights_sha256(self) -> str:
        """The SHA-256 of ``model.safetensors`` the manifest records ('' when it records none)."""
        return self.manifest.require("weights_sha256", str) if self.manifest.has("weights_sha256") else ""

    @property
    def weights_hash(self) -> str:
        return self.weights_sha256[:16]


def save_model_folder(
    directory: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    encoder_config: EncoderConfig,
    tokenizer_dir: str | Path,
    provenance: Dict[str, Any],
) -> Path:
    """Write a complete model folder atomically (replacing an older one only once the new one is complete)."""
    if encoder_config.vocab_size is None:
        raise ModelFolderError("encoder_config.vocab_size must be resolved before saving a model folder")
    directory = Path(directory)
    with atomic_dir(directory, overwrite=True) as tmp:
        save_file(independent_tensors(state_dict), str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        write_json(tmp / CONFIG_FILE, dataclasses.asdict(encoder_config))
        shutil.copytree(tokenizer_dir, tmp / TOKENIZER_DIR)
        set_model_max_length(tmp / TOKENIZER_DIR, encoder_config.max_positions)  # the model's limit, not the tokenizer's
        write_manifest(tmp, {**provenance, "weights_sha256": sha256_file(tmp / WEIGHTS_FILE)})
    return directory


def is_model_folder(directory: str | Path) -> bool:
    directory = Path(directory)
    return (directory / MANIFEST_FILE).exists() and (directory / WEIGHTS_FILE).exists()


def load_model_folder(directory: str | Path) -> LoadedModel:
    directory = Path(directory)
    if not directory.exists():
        raise ModelFolderError(f"model folder {directory} does not exist")
    if not is_model_folder(directory):
        raise ModelFolderError(
            f"{directory} is not a finished workbench model folder (needs {WEIGHTS_FILE} and {MANIFEST_FILE});"
            " point at a pretraining run's model/ folder"
        )
    config_data = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(EncoderConfig)}
    unknown = sorted(set(config_data) - known)
    if unknown:
        raise ModelFolderError(f"{directory / CONFIG_FILE}: unknown keys {unknown} (written by a newer workbench?)")
    encoder_config = EncoderConfig(**config_data)
    state_dict = load_file(str(directory / WEIGHTS_FILE))
    tokenizer = Tokenizer.load(directory / TOKENIZER_DIR)
    manifest = read_manifest(directory)
    assert manifest is not None  # is_model_folder above
    return LoadedModel(directory, encoder_config, state_dict, tokenizer, manifest)
