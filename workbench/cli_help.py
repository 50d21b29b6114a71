"""``python -m workbench <stage> --help``: the stage's own config groups, keys (current values) and one example.

Hydra's help printed the whole composed config (every stage's keys) for every stage; each stage lists here the
groups and sections it reads. ``--cfg job`` still prints everything, ``--hydra-help`` Hydra's own options.
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from typing import Dict, List, NamedTuple, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf

from workbench.config.keys import unwrap_optional
from workbench.config.root import WorkbenchConfig


class StageHelp(NamedTuple):
    groups: Sequence[str]  # config groups (conf/<group>/) the stage reads
    sections: Sequence[str]  # top-level keys of the config the stage reads, printed with their current values
    example: str


HELP: Dict[str, StageHelp] = {
    "tokenizer": StageHelp(("tokenizer", "corpus"), ("tokenizer", "corpus", "paths"),
                           "python -m workbench tokenizer tokenizer=sentencepiece_bpe_fr corpus=french_prose_eltec"),
    "tokenizer-report": StageHelp(("corpus",), ("tokenizer_report", "corpus", "paths"),
                                  "python -m workbench tokenizer report 'tokenizer_report.tokenizers=[sample-wordpiece,sample-sentencepiece]'"),
    "prepare": StageHelp(("tokenizer", "corpus"), ("corpus", "packing", "init_from", "paths"),
                         "python -m workbench prepare tokenizer=sentencepiece_bpe_fr corpus=french_prose_eltec"),
    "train": StageHelp(("model", "trainer", "hardware", "experiment", "tokenizer", "corpus", "tracking"),
                       ("model", "trainer", "hardware", "packing", "seed", "run_name", "init_from", "paths"),
                       "python -m workbench train +experiment=quickstart trainer.max_steps=200"),
    "eval": StageHelp(("task", "hardware", "experiment", "tracking"), ("task", "finetune", "model_card", "hardware", "seed", "paths"),
                      "python -m workbench eval task=sample_sentiment finetune.model=runs/quickstart/model"),
    "report": StageHelp((), ("report", "paths"), "python -m workbench report report.title='my leaderboard'"),
    "pipeline": StageHelp(("experiment", "model", "tokenizer", "corpus", "trainer", "hardware", "task"),
                          ("seed", "run_name", "paths"), "python -m workbench pipeline +experiment=quickstart"),
    "fill-mask": StageHelp((), ("fill_mask",),
                           'python -m workbench fill-mask model=runs/quickstart/model text="Le camembert est un <mask> normand."'),
    "embed": StageHelp(("hardware",), ("embed", "hardware"),
                       "python -m workbench embed model=runs/quickstart/model input_file=texts.txt output=emb.npy"),
    "predict": StageHelp((), ("predict",),
                         "python -m workbench predict model=evals/runs/<model>/<task>/<hash>/seed-0/transformers"
                         " input_file=reviews.tsv output=predictions.jsonl"),
}
HELP["finetune"] = HELP["eval"]

ADDED_GROUPS = ("model", "experiment")  # not in the defaults list: chosen with +<group>=<name>


def _yaml(key: str, value: object) -> List[str]:
    """``key: value`` as YAML lines, a list of plain values on one line (``betas: [0.9, 0.98]``), interpolations unresolved."""
    container = OmegaConf.to_container(OmegaConf.create({key: value}), resolve=False)
    return yaml.dump(container, Dumper=_HelpDumper, sort_keys=False, allow_unicode=True).splitlines()


class _HelpDumper(yaml.SafeDumper):
    """Block style for mappings and lists of mappings, flow style for lists of plain values and for small tables of
    numbers (``peak_tflops: {fp32: 0.2, bf16: 0.46, fp16: 1.0}``)."""


def _number_table(data: dict) -> bool:
    return 0 < len(data) <= 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values())


_HelpDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=not any(isinstance(item, (dict, list)) for item in data)))
_HelpDumper.add_representer(dict, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data, flow_style=_number_table(data)))


def _section(cfg: DictConfig, key: str) -> List[str]:
    """``key`` and its current value(s); a section left empty (model, task) shows its schema's keys and defaults."""
    value = cfg[key] if key in cfg else None
    if isinstance(value, DictConfig):
        return _yaml(key, value)
    schema = unwrap_optional(typing.get_type_hints(WorkbenchConfig).get(key))
    if value is None and dataclasses.is_dataclass(schema):
        keys = ", ".join(f"{key}.{name}" for name in typing.get_type_hints(schema))
        return [f"{key}: null  # not chosen here; its keys:", *textwrap.wrap(keys, 110, initial_indent="  ", subsequent_indent="  ")]
    return _yaml(key, value)


def stage_help(stage: str, description: str, cfg: DictConfig, choices: Dict[str, List[str]], short_keys: Sequence[str]) -> str:
    """The help text of ``stage`` for the composed config ``cfg`` (``choices``: group -> its YAML names)."""
    spec = HELP[stage]
    lines = [f"usage: python -m workbench {stage} [key=value ...] [group=option ...] [-m] [--help]", f"  {description}", "",
             "example:", f"  {spec.example}", ""]
    if short_keys:
        lines += [f"short keys: {', '.join(short_keys)} (e.g. model=<dir>; the long form {spec.sections[0]}.<key>= works too)", ""]
    if spec.groups:
        lines.append("config groups (group=option; model and experiment are added with +group=option):")
        for group in spec.groups:
            prefix = "+" if group in ADDED_GROUPS else ""
            lines.append(f"  {prefix}{group}: {', '.join(choices.get(group, [])) or '(none)'}")
        lines.append("")
    lines.append("keys this stage reads (key=value; current values):")
    for key in spec.sections:
        lines += ["  " + line for line in _section(cfg, key)]
    lines += ["", f"the whole composed config: python -m workbench {stage} --cfg job; Hydra's options: --hydra-help;",
              "sweeps: -m with comma-separated values (key=a,b), one job per combination"]
    return "\n".join(lines) + "\n"
