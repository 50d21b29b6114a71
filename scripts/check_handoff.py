"""Does fine-tuning get the model that pretraining logged? (issue #17, section 1)

For a finished pretraining run folder this checks, and prints:

1. the encoder that ``eval`` builds (``workbench.evaluation.models.load_for_task``, exactly as fine-tuning
   loads ``finetune.model``) holds every pretrained ``encoder.*`` tensor unchanged, and which of its
   parameters start fresh (the task head, the pooler of an MLM-only checkpoint);
2. that encoder, put back under the folder's MLM head, gives on the run's own validation batches (same
   sequences, same masks: the loop's ``VALIDATION_EPOCH`` stream) the validation loss and MLM accuracy the
   run logged at its last step in ``metrics.jsonl``;
3. the fresh head: its modules, init std and dropout, next to transformers' ``RobertaClassificationHead``
   (``CamembertForSequenceClassification`` built from the run's exported config) when transformers is there.

    python scripts/check_handoff.py runs/<run_name>
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from omegaconf import OmegaConf

from workbench.artifacts.layout import shards_dir
from workbench.artifacts.model_folder import load_model_folder
from workbench.config.root import WorkbenchConfig
from workbench.config.typed import to_typed
from workbench.corpus.loader import BatchLoader
from workbench.corpus.shards import ShardSet
from workbench.evaluation.models import load_for_task
from workbench.hardware.precision import PrecisionPolicy
from workbench.model.pretraining import PretrainingModel
from workbench.training.batches import mask_batch
from workbench.training.distributed import Runtime
from workbench.training.validator import VALIDATION_EPOCH, validate
from workbench.training.metrics_log import read_metrics


def run_config(run: Path) -> WorkbenchConfig:
    saved = OmegaConf.load(run / "config.yaml")
    return to_typed(OmegaConf.merge(OmegaConf.structured(WorkbenchConfig), saved))


def validation_batches(cfg: WorkbenchConfig, tokenizer):
    """The loop's validation batches (one process): the first eval_batches micro-batches of valid, masked alike."""
    shards = ShardSet.open(shards_dir(cfg))
    loader = BatchLoader(shards.split("valid"), cfg.trainer.micro_batch_size, seed=cfg.seed, rank=0, world_size=1,
                         pad_id=tokenizer.pad_id, shuffle=False, num_epochs=1)
    return [mask_batch(batch, tokenizer, cfg.trainer.objective, seed=cfg.seed, epoch=VALIDATION_EPOCH)
            for _, batch in zip(range(cfg.trainer.eval_batches), loader)]


@torch.no_grad()
def check(run: Path) -> dict:
    cfg = run_config(run)
    folder = load_model_folder(run / "model")
    report: dict = {"run": str(run)}

    # 1. the encoder fine-tuning gets
    torch.manual_seed(0)
    loaded = load_for_task(run / "model", "classification", 2)
    classifier = loaded.model.model
    own = classifier.state_dict()
    pretrained = {k: v for k, v in folder.state_dict.items() if k.startswith("encoder.")}
    differing = [k for k, v in pretrained.items() if k in own and not torch.equal(own[k], v)]
    absent = [k for k in pretrained if k not in own]
    fresh = sorted(k for k in own if k not in pretrained)
    report["encoder_tensors"] = len(pretrained)
    report["encoder_tensors_differing_after_load"] = differing
    report["pretrained_tensors_not_loaded"] = absent
    report["fresh_parameters"] = fresh

    # 2. validation MLM loss/accuracy of that encoder under the folder's MLM head
    mlm = PretrainingModel(folder.encoder_config, nsp=cfg.trainer.objective.nsp)
    mlm.load_state_dict(folder.state_dict)
    encoder_state = {k[len("encoder."):]: v for k, v in own.items() if k.startswith("encoder.")}
    mlm.encoder.load_state_dict({**mlm.encoder.state_dict(), **encoder_state})
    runtime = Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    measured = validate(mlm, validation_batches(cfg, folder.tokenizer), runtime, PrecisionPolicy("fp32", "cpu"))
    logged = [row for row in read_metrics(run, "valid")][-1]
    report["validation_measured"] = measured
    report["validation_logged"] = {k: logged[k] for k in ("step", "loss", "perplexity", "mlm_accuracy")}

    # 3. the fresh head next to transformers' (init std, dropout)
    head = classifier.head
    report["workbench_head"] = {
        "style": head.style,
        "modules": [n for n, _ in head.named_children()],
        "dropout_p": head.dropout.p,
        "dense_weight_std": float(head.dense.weight.std()) if head.style == "dense" else None,
        "out_weight_std": float(head.out.weight.std()),
        "bias_abs_max": max(float(head.out.bias.abs().max()), float(head.dense.bias.abs().max()) if head.style == "dense" else 0.0),
        "initializer_range": folder.encoder_config.initializer_range,
        "encoder_dropout": folder.encoder_config.dropout,
    }
    hf_dir = run / "transformers"
    if (hf_dir / "config.json").exists():
        import transformers

        torch.manual_seed(0)
        reference = transformers.AutoModelForSequenceClassification.from_pretrained(str(hf_dir), num_labels=2)
        ref_head = reference.classifier
        report["transformers_head"] = {
            "class": type(reference).__name__ + "." + type(ref_head).__name__,
            "modules": [n for n, _ in ref_head.named_children()],
            "dropout_p": ref_head.dropout.p,
            "dense_weight_std": float(ref_head.dense.weight.std()),
            "out_weight_std": float(ref_head.out_proj.weight.std()),
            "bias_abs_max": max(float(ref_head.out_proj.bias.abs().max()), float(ref_head.dense.bias.abs().max())),
            "initializer_range": reference.config.initializer_range,
            "hidden_dropout_prob": reference.config.hidden_dropout_prob,
        }
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished pretraining run folder (runs/<run_name>)")
    args = parser.parse_args(argv)
    report = check(args.run)
    print(json.dumps(report, indent=2))
    ok = not report["encoder_tensors_differing_after_load"] and not report["pretrained_tensors_not_loaded"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
