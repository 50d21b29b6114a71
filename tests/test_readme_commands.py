"""Every ``python -m workbench ...`` command of README.md and of the docs it sends users to works as written, in dry-run form: the stage exists and
its overrides (after the CLI's own rewriting: short keys, ``-m`` moved) compose with the real conf/ and convert to
the typed config; a sweep composes every one of its jobs. Commands needing data that is not here are still
composed (nothing runs)."""

from __future__ import annotations

import re
import shlex
from typing import List

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from workbench import cli
from workbench.config.root import WorkbenchConfig
from workbench.config.store import register_configs
from workbench.config.typed import CONF_DIR, to_typed
from workbench.interop.fairseq_cli import _parser as fairseq_parser

README = CONF_DIR.parent / "README.md"
# the README keeps one example per stage; the rest of the commands it used to show live in these docs
DOCS_WITH_COMMANDS = [CONF_DIR.parent / "docs" / name for name in ("command_line.md", "training_at_scale.md", "tracking.md", "fairseq.md", "continued_pretraining.md")]


def readme_commands() -> List[List[str]]:
    """The arguments after ``-m workbench`` of each command in the bash blocks (and inline code spans) of README and
    DOCS_WITH_COMMANDS."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in [README, *DOCS_WITH_COMMANDS])
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines += block.replace("\\\n", " ").splitlines()
    lines += re.findall(r"`(python -m workbench [^`]+)`", text)
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        for i in range(len(words) - 1):
            if words[i] == "-m" and words[i + 1] == "workbench":
                commands.append(words[i + 2:])
                break
    return commands


COMMANDS = readme_commands()


def _jobs(overrides: List[str], multirun: bool) -> List[List[str]]:
    if not multirun:
        return [overrides]
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def test_readme_has_the_commands():
    stages = {command[0] for command in COMMANDS if command}
    assert {"train", "eval", "tokenizer", "prepare", "fill-mask", "embed", "pipeline", "fairseq", "report"} <= stages
    assert any("-m" in command for command in COMMANDS)


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:80] for c in COMMANDS])
def test_readme_command_composes(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        assert "stages:" in cli.usage()
        return
    argv = list(argv)
    stage = argv.pop(0)
    if stage == "tokenizer" and argv[:1] == ["report"]:
        stage = argv.pop(0) and "tokenizer-report"
    if stage == "fairseq":
        fairseq_parser().parse_args(argv)
        return
    if stage == "sweep-summary":
        assert len(argv) == 1
        return
    assert stage in cli.STAGES, f"README runs an unknown stage {stage!r}"
    args = cli.hydra_args(stage, argv)
    overrides = cli.overrides_of(args)
    cli.check_override_keys(overrides)
    if "--help" in args:
        return  # tests/test_cli_help.py runs the stage helps
    multirun = args[:1] == ["-m"]
    assert multirun or not any(arg in cli.MULTIRUN_FLAGS for arg in args)
    register_configs()
    for job in _jobs(overrides, multirun):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=cli.STAGES[stage][1], overrides=[*job, "run_dir=/tmp/unused"]
                          if stage == "train" else job, return_hydra_config=False)
        assert isinstance(to_typed(cfg), WorkbenchConfig)
