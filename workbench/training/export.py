"""The run's final transformers export: ``runs/<run>/transformers/`` beside the workbench ``model/`` folder.

The class is the family's masked-LM class (``CamembertForMaskedLM``, ``RobertaForMaskedLM``,
``BertForMaskedLM`` or ``BertForPreTraining`` when the NSP head was trained, ``FlaubertWithLMHeadModel``),
with the tokenizer files, so ``transformers.AutoModelForMaskedLM.from_pretrained`` and
``AutoTokenizer.from_pretrained`` read it as is. The folder is written atomically (complete or absent).
transformers is an optional (dev) dependency: without it the same files are written from workbench alone
(``workbench.interop.transformers_files``), for transformers to load where it is installed.
The folder holds no ``manifest.json`` on purpose (a manifest beside ``model.safetensors`` is what marks a
workbench model folder): its provenance is ``model/manifest.json``, the weights it was converted from.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional

import torch

from workbench.artifacts.model_folder import is_model_folder, load_model_folder
from workbench.interop.hf_config import InteropError
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel

log = logging.getLogger(__name__)

EXPORT_DIR = "transformers"


def transformers_missing() -> Optional[str]:
    """Why transformers cannot be imported (None when it can)."""
    try:
        import transformers  # noqa: F401
    except ImportError as error:
        return f"the transformers package is not installed ({error}); pip install -e .[dev] to get it"
    return None


def _skipped(reason: str) -> None:
    log.warning("transformers export skipped: %s; the workbench model folder is complete", reason)


def export_pretrained(state_dict: Mapping[str, torch.Tensor], encoder_config: EncoderConfig, tokenizer_dir: Path,
                      target: Path) -> Optional[Path]:
    """Write ``target`` from a full pretraining state dict; returns None (after logging why) when it cannot."""
    from workbench.interop.transformers_export import export_to_transformers
    from workbench.interop.transformers_files import write_transformers_files

    nsp = any(key.startswith("nsp_head.") for key in state_dict)
    model = PretrainingModel(encoder_config, nsp=nsp)
    model.load_state_dict(dict(state_dict))
    missing = transformers_missing()
    try:
        if missing is None:
            export_to_transformers(model.eval(), target, tokenizer_dir=tokenizer_dir, overwrite=True)
        else:  # the same files, written without transformers (loadable once it is installed)
            write_transformers_files(model.eval(), target, tokenizer_dir=tokenizer_dir, overwrite=True)
    except InteropError as error:  # a configuration transformers cannot express: the run itself is fine
        return _skipped(str(error))
    log.info("transformers export: %s%s", target, "" if missing is None else " (written without transformers installed)")
    return target


def export_run(run_dir: Path, replace: bool) -> Optional[Path]:
    """Export ``run_dir/model`` to ``run_dir/transformers`` (when it is there already: only with ``replace``)."""
    target = run_dir / EXPORT_DIR
    if not is_model_folder(run_dir / "model"):
        return None
    if (target / "config.json").exists() and not replace:
        return target
    loaded = load_model_folder(run_dir / "model")
    return export_pretrained(loaded.state_dict, loaded.encoder_config, loaded.directory / "tokenizer", target)
