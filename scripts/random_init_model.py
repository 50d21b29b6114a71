"""A random-init twin of a workbench model folder: same config, tokenizer and architecture, fresh weights.

The weights come from the code pretraining initializes with (``PretrainingModel(config)`` after
``torch.manual_seed(seed)``, as ``workbench.training.loop.pretrain`` does), so fine-tuning the twin is the
"same architecture and tokenizer from random initialisation" baseline of a pretrained folder (issue #17).

    python scripts/random_init_model.py runs/<run>/model runs/<run>-random/model [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from workbench.artifacts.model_folder import TOKENIZER_DIR, load_model_folder, save_model_folder
from workbench.artifacts.provenance import provenance
from workbench.model.pretraining import PretrainingModel


def random_twin(source: Path, target: Path, seed: int) -> Path:
    folder = load_model_folder(source)
    nsp = any(k.startswith("nsp_head.") for k in folder.state_dict)
    torch.manual_seed(seed)
    model = PretrainingModel(folder.encoder_config, nsp=nsp)
    record = provenance({"random_init_of": str(source), "seed": seed}, steps=0,
                        source_weights_sha256=folder.weights_sha256 or None)
    return save_model_folder(target, model.state_dict(), folder.encoder_config, source / TOKENIZER_DIR, record)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a workbench model folder (runs/<run>/model)")
    parser.add_argument("target", type=Path, help="where to write the random-init model folder")
    parser.add_argument("--seed", type=int, default=0, help="torch seed of the initialization (default 0)")
    args = parser.parse_args(argv)
    print(random_twin(args.source, args.target, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
