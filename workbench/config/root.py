"""The root schema shared by every stage: one typed object per config group.

Every stage reads the same ``WorkbenchConfig`` so that an experiment file sets
the whole chain (vocabulary, shards, model, trainer, tasks) at once and each
stage takes the part it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from workbench.config.choices import ConfigError, check_path_name, check_positive
from workbench.corpus.config import CorpusConfig, PackingConfig
from workbench.evaluation.config import DataConfig, FinetuneConfig, ReportConfig, TaskConfig
from workbench.inference.config import EmbedConfig, FillMaskConfig, PredictConfig
from workbench.interop.model_card import ModelCardConfig
from workbench.model.config import EncoderConfig
from workbench.tokenization.config import TokenizerConfig
from workbench.tokenization.report_config import TokenizerReportConfig
from workbench.tracking.config import TrackingConfig
from workbench.training.config import HardwareConfig, TrainerConfig


@dataclass
class PathsConfig:
    """Where artifacts live. Relative paths are relative to the directory the command runs in."""

    tokenizers: str = "tokenizers"  # tokenizers/<tokenizer.name>/
    shards: str = "corpora/prepared"  # corpora/prepared/<corpus>-<tokenizer>-<packing>/
    runs: str = "runs"  # runs/<run_name>/ : pretraining runs
    evals: str = "evals"  # evals/results.sqlite, evals/runs/, evals/report/
    data: str = "${oc.env:WORKBENCH_SHARED_DATA,../shared/data}"  # local task copies (data=local), see docs/evaluation.md


@dataclass
class WorkbenchConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    seed: int = 0
    run_name: str = "default"  # pretraining run folder name under paths.runs
    run_dir: Optional[str] = None  # set by Hydra to its output dir (one folder per multirun job); else paths.runs/run_name
    tokenizer: Optional[TokenizerConfig] = None
    corpus: Optional[CorpusConfig] = None
    packing: PackingConfig = field(default_factory=PackingConfig)
    model: Optional[EncoderConfig] = None  # chosen with +model=<name>
    # Continued pretraining (train, prepare): a transformers or fairseq folder, a workbench run, checkpoint or model
    # folder to start from; its architecture and tokenizer are used, the optimizer starts fresh (not resume).
    init_from: Optional[str] = None
    init_from_extend_vocab: int = 0  # with init_from: new words learned from the corpus added to its vocabulary
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    task: Optional[TaskConfig] = None  # one task (eval stage, task=<name>)
    tasks: Dict[str, TaskConfig] = field(default_factory=dict)  # several tasks (experiments)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    data: DataConfig = field(default_factory=DataConfig)  # data=local: the tasks' copies under paths.data
    report: ReportConfig = field(default_factory=ReportConfig)
    tokenizer_report: TokenizerReportConfig = field(default_factory=TokenizerReportConfig)
    fill_mask: FillMaskConfig = field(default_factory=FillMaskConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)  # tracking=mlflow: train and eval also log to MLflow
    predict: PredictConfig = field(default_factory=PredictConfig)
    model_card: ModelCardConfig = field(default_factory=ModelCardConfig)  # licence and languages of exported models

    def __post_init__(self) -> None:
        check_path_name("run_name", self.run_name)
        check_positive("init_from_extend_vocab", self.init_from_extend_vocab, allow_zero=True)
        if self.init_from_extend_vocab and not self.init_from:
            raise ConfigError(
                f"init_from_extend_vocab={self.init_from_extend_vocab} extends the vocabulary of init_from, which is not"
                " set; add init_from=<model folder> or drop init_from_extend_vocab"
            )
