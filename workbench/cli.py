"""``python -m workbench <stage> [hydra overrides]``: one command line for every stage."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Dict, List, Optional, Tuple

# stage -> (module in workbench.stages, primary config name, one-line description)
STAGES: Dict[str, Tuple[str, str, str]] = {
    "tokenizer": ("tokenizer", "tokenizer", "train a vocabulary from raw text (tokenizer=<name> corpus=<name>)"),
    "tokenizer-report": ("tokenizer_report", "tokenizer_report", "compare vocabularies on held-out text (fertility, unknowns, ...)"),
    "prepare": ("prepare", "prepare", "clean, tokenize and pack a corpus into memory-mapped shards"),
    "train": ("train", "train", "pretrain an encoder (+model=<name>)"),
    "eval": ("evaluate", "eval", "fine-tune and evaluate a model on downstream tasks (task=<name> finetune.model=<dir>)"),
    "finetune": ("evaluate", "eval", "alias of eval"),
    "report": ("report", "report", "leaderboard from the results database: markdown, CSV, HTML"),
    "pipeline": ("pipeline", "pipeline", "the whole chain in order, reusing finished artifacts (+experiment=quickstart)"),
    "fill-mask": ("fill_mask", "fill_mask", "top-k completions of <mask> in a text or a file (fill_mask.model=<dir> fill_mask.text=...)"),
    "embed": ("embed", "embed", "token/sentence embeddings of a file, or cosine similarity (embed.model=<dir> embed.input_file=...)"),
}

USAGE = """usage: python -m workbench <stage> [hydra overrides] [--help] [-m]

stages:
{stages}

examples:
  python -m workbench pipeline +experiment=quickstart
  python -m workbench train +model=camembert_base
  python -m workbench train +experiment=quickstart -m trainer.optimizer.lr=1e-4,3e-4
  python -m workbench <stage> --help        Hydra's help: config groups and the composed config
"""


def usage() -> str:
    width = max(len(name) for name in STAGES)
    lines = [f"  {name.ljust(width)}  {desc}" for name, (_, _, desc) in STAGES.items()]
    return USAGE.format(stages="\n".join(lines))


def is_user_error(error: BaseException) -> bool:
    """Errors workbench raises on purpose about the user's input (ValueError subclasses defined in workbench)."""
    return isinstance(error, ValueError) and type(error).__module__.startswith("workbench.")


def _hydra_entry(stage: str, run: Callable) -> Callable:
    import hydra
    from omegaconf import DictConfig

    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, to_typed

    register_configs()
    _, config_name, _ = STAGES[stage]

    @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
    def entry(cfg: DictConfig):
        try:
            return run(to_typed(cfg))
        except ValueError as error:
            if not is_user_error(error):
                raise
            # Bad input or configuration: one clear line naming the key/file and the fix, no traceback.
            print(f"workbench {stage}: error: {error}", file=sys.stderr)
            sys.exit(2)

    return entry


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    stage = argv.pop(0)
    if stage == "tokenizer" and argv[:1] == ["report"]:
        stage = argv.pop(0) and "tokenizer-report"
    if stage not in STAGES:
        print(f"workbench: unknown stage {stage!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"workbench.stages.{STAGES[stage][0]}")
    entry = _hydra_entry(stage, module.run)
    sys.argv = [f"workbench {stage}", *argv]
    entry()
    return 0
