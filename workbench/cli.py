"""``python -m workbench <stage> [hydra overrides]``: one command line for every stage."""

from __future__ import annotations

import errno
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
    "predict": ("predict", "predict", "a fine-tuned model's predictions with scores for a file (model=<dir> input_file=<file> output=<.jsonl>)"),
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
    "predict": {
        "model": ("predict.model", True),
        "input_file": ("predict.input_file", True),
        "output": ("predict.output", True),
        "format": ("predict.format", False),
        "text_column": ("predict.text_column", True),
        "pair_column": ("predict.pair_column", True),
        "has_header": ("predict.has_header", False),
        "token_column": ("predict.token_column", False),
        "batch_size": ("predict.batch_size", False),
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
  python -m workbench <stage> --help        the stage's config groups, keys and an example
"""


def usage() -> str:
    width = max(len(name) for name in STAGES)
    lines = [f"  {name.ljust(width)}  {desc}" for name, (_, _, desc) in STAGES.items()]
    return USAGE.format(stages="\n".join(lines))


def is_user_error(error: BaseException) -> bool:
    """Errors workbench raises on purpose about the user's input (ValueError subclasses defined in workbench)."""
    return isinstance(error, ValueError) and type(error).__module__.startswith("workbench.")


# what the OS says when an output cannot be written, and what to do about it
_WRITE_ERRORS = {
    errno.ENOSPC: ("the disk is full", "free space there (or point paths.* at another disk)"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space there (or point paths.* at another disk)"),
    errno.EROFS: ("it is on a read-only file system", "point the stage's output at a writable folder (paths.runs, paths.shards, paths.tokenizers, paths.evals)"),
    errno.EACCES: ("permission denied", "make the folder writable or point paths.* at a writable folder"),
    errno.EPERM: ("operation not permitted", "make the folder writable or point paths.* at a writable folder"),
}


def write_error_message(error: OSError) -> Optional[str]:
    """One line for an OS error about writing an output (disk full, read-only, no permission); None for others."""
    if error.errno not in _WRITE_ERRORS:
        return None
    what, fix = _WRITE_ERRORS[error.errno]
    path = error.filename if error.filename is not None else "(path not given by the OS)"
    return (
        f"cannot write {str(path)!r}: {what} ({error.strerror or error}). Finished artifacts and earlier files are"
        f" intact (workbench writes under a temporary name and renames when complete; the unfinished one was removed);"
        f" {fix}, then rerun the same command: finished artifacts are reused"
    )


class StageTask:
    """The function Hydra runs for one stage's job: typed config, then the stage; bad input becomes one line.

    Launchers that run jobs in other processes (submitit for SLURM) pickle it: it unpickles through ``stage_task``,
    which registers the schema and the YAML's resolvers first (the job's folder name needs them, and is resolved
    in that process before the task runs)."""

    __module__ = __name__

    def __init__(self, stage: str):
        self.stage = stage
        self.run = importlib.import_module(f"workbench.stages.{STAGES[stage][0]}").run

    def __reduce__(self):
        return (stage_task, (self.stage,))

    def __call__(self, cfg):
        from workbench.config.typed import to_typed

        stage = self.stage
        try:
            return self.run(to_typed(cfg))
        except ValueError as error:
            if not is_user_error(error):
                raise
            # Bad input or configuration: one clear line naming the key/file and the fix, no traceback.
            print(f"workbench {stage}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except OSError as error:
            message = write_error_message(error)
            if message is None:
                raise
            print(f"workbench {stage}: error: {message}", file=sys.stderr)
            sys.exit(2)


def stage_task(stage: str) -> StageTask:
    from workbench.config.store import register_configs

    register_configs()
    return StageTask(stage)


def _hydra_entry(stage: str) -> Callable:
    import hydra

    from workbench.config.typed import CONF_DIR

    _, config_name, _ = STAGES[stage]
    return hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")(stage_task(stage))


MULTIRUN_FLAGS = ("-m", "--multirun")
# Hydra flags followed by a value (the value is not an override)
_FLAGS_WITH_VALUE = ("--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--experimental-rerun")


def hydra_args(stage: str, argv: List[str]) -> List[str]:
    """The arguments Hydra gets for ``stage``: short keys expanded, ``-m``/``--multirun`` moved to the front
    (Hydra 1.3 takes no override after it: facebookresearch/hydra#3053)."""
    args = expand_short_keys(stage, argv)
    if any(arg in MULTIRUN_FLAGS for arg in args):
        args = ["-m", *(arg for arg in args if arg not in MULTIRUN_FLAGS)]
    return args


def overrides_of(args: List[str]) -> List[str]:
    """The ``key=value`` overrides among Hydra's arguments (flags and their values left out)."""
    overrides, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _FLAGS_WITH_VALUE
        else:
            overrides.append(arg)
    return overrides


def check_override_keys(overrides: List[str]) -> None:
    """Fail naming the closest valid key when an override sets a key the schema does not have (with ``+`` or not;
    Hydra itself accepts ``+trainer.max_step=10`` and advises ``+`` for a typo without it)."""
    from workbench.config.keys import check_key_path
    from workbench.config.root import WorkbenchConfig
    from workbench.config.typed import CONF_DIR

    for override in overrides:
        key = override.partition("=")[0].lstrip("+~")
        first = key.split(".")[0]
        if not key or "/" in key or "@" in key or first == "hydra" or ("." not in key and (CONF_DIR / key).is_dir()):
            continue  # a config group choice or Hydra's own settings
        check_key_path(WorkbenchConfig, key)


def print_stage_help(stage: str, args: List[str]) -> None:
    """``<stage> --help``: the stage's groups, keys (composed with the overrides given) and one example."""
    from hydra import compose, initialize_config_dir

    from workbench.cli_help import stage_help
    from workbench.config.store import register_configs
    from workbench.config.typed import CONF_DIR, group_choices

    register_configs()
    _, config_name, description = STAGES[stage]
    overrides = [arg for arg in overrides_of(args) if "," not in arg.partition("=")[2]]  # a sweep's values: no job
    note = ""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            cfg = compose(config_name=config_name, overrides=overrides)
        except Exception as error:  # Hydra raises several types for overrides that do not compose
            cfg = compose(config_name=config_name, overrides=[])
            note = f"(the overrides given do not compose: {error}; the values below are the defaults)\n"
    groups = {path.name: group_choices(path.name) for path in CONF_DIR.iterdir() if path.is_dir()}
    print(note + stage_help(stage, description, cfg, groups, list(SHORT_KEYS.get(stage, {}))), end="")


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
    args = hydra_args(stage, argv)
    from workbench.config.choices import ConfigError

    try:
        check_override_keys(overrides_of(args))
    except ConfigError as error:
        print(f"workbench {stage}: error: {error}", file=sys.stderr)
        return 2
    if "--help" in args or "-h" in args:
        print_stage_help(stage, args)
        return 0
    entry = _hydra_entry(stage)
    sys.argv = [f"workbench {stage}", *args]
    entry()
    return 0
