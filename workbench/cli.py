"""``python -m workbench <stage> [hydra overrides]``: one command line for every stage."""

from __future__ import annotations

import importlib
import re
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
    "fill-mask": ("fill_mask", "fill_mask", "top-k completions of <mask> in a text or a file (model=<dir> text=\"...\" | input_file=<file>)"),
    "embed": ("embed", "embed", "token/sentence embeddings of a file, or cosine similarity (model=<dir> input_file=<file> output=<.npy>)"),
}

# Short keys of the inference stages: ``key=value`` on the command line is rewritten to ``<stage key>=value``
# before Hydra sees it (``model`` would otherwise select the ``conf/model/`` group). The long form
# (``fill_mask.model=...``) keeps working. Keys marked True take their value verbatim, as the shell passed it:
# it is quoted for Hydra's override grammar, so ``text="Le camembert est <mask> !"`` needs no inner quotes
# (a value already wrapped in Hydra quotes is passed unchanged). Keys marked False keep Hydra's grammar
# (numbers, choices, lists such as ``similarity='["a","b"]'``). A short key is one value: sweep with the long form.
SHORT_KEYS: Dict[str, Dict[str, Tuple[str, bool]]] = {
    "fill-mask": {
        "model": ("fill_mask.model", True),
        "text": ("fill_mask.text", True),
        "input_file": ("fill_mask.input_file", True),
        "output": ("fill_mask.output", True),
        "top_k": ("fill_mask.top_k", False),
        "batch_size": ("fill_mask.batch_size", False),
    },
    "embed": {
        "model": ("embed.model", True),
        "input_file": ("embed.input_file", True),
        "output": ("embed.output", True),
        "layers": ("embed.layers", False),
        "layer": ("embed.layer", False),
        "pooling": ("embed.pooling", False),
        "similarity": ("embed.similarity", False),
        "batch_size": ("embed.batch_size", False),
    },
}


HYDRA_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'" + r'|"(?:\\.|[^"\\])*"')  # one quoted override value


def hydra_quoted(value: str) -> str:
    """``value`` as a Hydra double-quoted string that parses and resolves back to exactly ``value``."""
    if HYDRA_QUOTED.fullmatch(value):
        return value  # already one Hydra quoted string (text='"..."'): Hydra strips the quotes, as with the long form
    body = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)  # OmegaConf: \${ is a literal ${
    body = re.sub(r'(\\+)(?="|$)', lambda m: m.group(1) * 2, body)  # Hydra: backslashes before a quote escape
    return '"' + body.replace('"', '\\"') + '"'


def expand_short_keys(stage: str, argv: List[str]) -> List[str]:
    """``argv`` with the stage's short keys (``SHORT_KEYS``) rewritten to its own config keys."""
    table = SHORT_KEYS.get(stage, {})
    expanded = []
    for arg in argv:
        key, equals, value = arg.partition("=")
        if equals and key in table:
            target, verbatim = table[key]
            arg = f"{target}={hydra_quoted(value) if verbatim else value}"
        expanded.append(arg)
    return expanded


USAGE = """usage: python -m workbench <stage> [hydra overrides] [--help] [-m]

stages:
{stages}

examples:
  python -m workbench pipeline +experiment=quickstart
  python -m workbench train +model=camembert_base
  python -m workbench train +experiment=quickstart -m trainer.optimizer.lr=1e-4,3e-4
  python -m workbench sweep-summary runs/quickstart-multirun   rebuild a sweep's summary.md/.csv
  python -m workbench fairseq import-model camembert-base/ models/camembert-base   (also export-shards, import-shards)
  python -m workbench fill-mask model=runs/quickstart/model text="Le camembert est <mask> !"
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
    if stage == "sweep-summary":  # not a Hydra stage: rebuild a sweep's summary.md/.csv from its job folders
        from workbench.training.sweep_summary import main as sweep_summary

        return sweep_summary(argv)
    if stage == "fairseq":  # not a Hydra stage: fairseq model/data conversions (workbench/interop/fairseq_cli.py)
        from workbench.interop.fairseq_cli import main as fairseq_main

        return fairseq_main(argv)
    if stage not in STAGES:
        print(f"workbench: unknown stage {stage!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"workbench.stages.{STAGES[stage][0]}")
    entry = _hydra_entry(stage, module.run)
    sys.argv = [f"workbench {stage}", *expand_short_keys(stage, argv)]
    entry()
    return 0
