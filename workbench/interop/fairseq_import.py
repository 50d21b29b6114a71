"""Import a fairseq RoBERTa/CamemBERT model folder as a workbench model, never executing pickled code.

The folder has the layout CamemBERT was released in: ``model.pt`` (a fairseq checkpoint), ``dict.txt``
(fairseq's dictionary) and ``sentencepiece.bpe.model``. ``import_fairseq(dir)`` gives the workbench
``PretrainingModel`` (encoder + tied MLM head) with the same outputs as
``fairseq.models.roberta.RobertaModel.from_pretrained(dir)`` and a ``Tokenizer`` giving fairseq's ids;
``convert_fairseq(dir, out)`` writes it as a workbench model folder (safetensors). Inference and
fine-tuning accept such a folder wherever they accept a model path.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import torch

from workbench.artifacts.hashing import sha256_file
from workbench.artifacts.model_folder import save_model_folder
from workbench.artifacts.provenance import provenance
from workbench.interop.fairseq_checkpoint import load_fairseq_checkpoint
from workbench.interop.fairseq_dictionary import FairseqDictionary, read_fairseq_dictionary
from workbench.interop.fairseq_roberta import encoder_config, model_args, upgraded_state, workbench_state
from workbench.interop.fairseq_sentencepiece import fairseq_tokenizer, write_tokenizer_folder
from workbench.interop.hf_config import InteropError
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import PretrainingModel
from workbench.tokenization.tokenizer import Tokenizer

CHECKPOINT_FILE = "model.pt"
DICT_FILE = "dict.txt"
SENTENCEPIECE_FILE = "sentencepiece.bpe.model"


@dataclass
class ImportedFairseq:
    model: PretrainingModel  # eval mode
    config: EncoderConfig
    tokenizer: Tokenizer
    directory: Path
    checkpoint_sha256: str
    ignored: List[str]  # checkpoint tensors left out (fine-tuning classification heads)


def is_fairseq_folder(directory: str | Path) -> bool:
    directory = Path(directory)
    return (directory / CHECKPOINT_FILE).is_file() and (directory / DICT_FILE).is_file()


def _files(directory: Path, checkpoint_file: str) -> tuple[Path, Path, Path]:
    if not directory.is_dir():
        raise InteropError(f"fairseq model folder {directory} does not exist")
    checkpoint, dictionary, spm = directory / checkpoint_file, directory / DICT_FILE, directory / SENTENCEPIECE_FILE
    missing = [p.name for p in (checkpoint, dictionary) if not p.is_file()]
    if missing:
        raise InteropError(f"{directory} is not a fairseq model folder: {', '.join(missing)} missing")
    if not spm.is_file():
        raise InteropError(
            f"{directory}: no {SENTENCEPIECE_FILE}; only SentencePiece vocabularies (the CamemBERT layout) are"
            " supported (RoBERTa's GPT-2 BPE needs encoder.json/vocab.bpe, which workbench does not import)"
        )
    return checkpoint, dictionary, spm


@dataclass
class _Loaded:
    checkpoint: Path
    dictionary_file: Path
    sentencepiece: Path
    dictionary: FairseqDictionary
    config: EncoderConfig
    weights: Dict[str, torch.Tensor]
    ignored: List[str]


def _load(directory: Path, checkpoint_file: str) -> _Loaded:
    checkpoint_path, dict_path, spm_path = _files(directory, checkpoint_file)
    source = str(checkpoint_path)
    checkpoint = load_fairseq_checkpoint(checkpoint_path)
    args = model_args(checkpoint, source)
    state = upgraded_state(checkpoint["model"])
    dictionary = read_fairseq_dictionary(dict_path)
    config = encoder_config(args, state, dictionary.pad, "camembert", source)
    if config.vocab_size != len(dictionary):
        raise InteropError(
            f"{source}: the embeddings have {config.vocab_size} rows but {dict_path} gives {len(dictionary)} symbols"
            " (4 specials + dict.txt + <mask>); the dictionary does not belong to this checkpoint"
        )
    weights, ignored = workbench_state(state, config, source)
    return _Loaded(checkpoint_path, dict_path, spm_path, dictionary, config, weights, ignored)


def import_fairseq(directory: str | Path, checkpoint_file: str = CHECKPOINT_FILE) -> ImportedFairseq:
    """The workbench model and tokenizer equivalent to the fairseq folder ``directory``."""
    directory = Path(directory)
    loaded = _load(directory, checkpoint_file)
    tokenizer = fairseq_tokenizer(loaded.sentencepiece, loaded.dictionary)
    model = PretrainingModel(loaded.config)
    model.load_state_dict(loaded.weights, strict=True)
    return ImportedFairseq(model.eval(), loaded.config, tokenizer, directory, sha256_file(loaded.checkpoint), loaded.ignored)


def convert_fairseq(directory: str | Path, out_dir: str | Path, checkpoint_file: str = CHECKPOINT_FILE) -> Path:
    """Write the fairseq folder ``directory`` as a workbench model folder ``out_dir`` (atomically)."""
    directory = Path(directory)
    loaded = _load(directory, checkpoint_file)
    PretrainingModel(loaded.config).load_state_dict(loaded.weights, strict=True)  # the folder must load
    record = {"source": str(directory.resolve()), "checkpoint_file": checkpoint_file,
              "checkpoint_sha256": sha256_file(loaded.checkpoint), "dict_sha256": sha256_file(loaded.dictionary_file),
              "sentencepiece_sha256": sha256_file(loaded.sentencepiece)}
    with tempfile.TemporaryDirectory(prefix="fairseq-tokenizer-") as tmp:
        tokenizer_dir = Path(tmp) / "tokenizer"
        write_tokenizer_folder(tokenizer_dir, loaded.sentencepiece, loaded.dictionary_file, loaded.dictionary,
                               loaded.config.max_positions, provenance(record, format="workbench-tokenizer"))
        return save_model_folder(out_dir, loaded.weights, loaded.config, tokenizer_dir,
                                 provenance(record, format="workbench-model", kind="pretraining",
                                            ignored_tensors=loaded.ignored))
