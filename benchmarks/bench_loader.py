"""The shard loader against what a training step of the tiny model consumes, side by side.

Prepares (or reuses) a shard set of French prose, then times
- ``BatchLoader``: padded batches (input_ids, attention_mask, token_type_ids, nsp_labels...) per second;
- one training step of ``conf/model/<model>.yaml`` (default bert_tiny) on the same batches: 15% masking,
  forward, backward, AdamW step, on this machine's CPU (or ``--device``).

    PYTHONPATH=. python benchmarks/bench_loader.py [--data DIR] [--tokenizer DIR] [--batch-size 32] [--mode sentence_pairs]

The loader must deliver batches at least 20x faster than the step consumes them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from workbench.corpus.config import CorpusConfig, PackingConfig, SourceConfig
from workbench.corpus.loader import BatchLoader
from workbench.corpus.prepare import prepare_corpus
from workbench.corpus.shards import ShardSet
from workbench.model.config import EncoderConfig
from workbench.model.pretraining import IGNORE_INDEX, PretrainingModel
from workbench.tokenization.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "french_prose" / "eltec_fra_plain1"


def bench_tokenizer(data: Path, folder: Path) -> Tokenizer:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

    lines = []
    for path in sorted(data.glob("*.txt"))[:4]:
        lines.extend(path.read_text(encoding="utf-8").splitlines())
    backend = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials, show_progress=False))
    folder.mkdir(parents=True, exist_ok=True)
    backend.save(str(folder / "tokenizer.json"))
    meta = {"family": "bert", "algorithm": "wordpiece", "special_tokens": dict(zip(["pad", "unk", "cls", "sep", "mask"], specials))}
    (folder / "workbench_tokenizer.json").write_text(json.dumps(meta), encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"benchmark": True}), encoding="utf-8")
    return Tokenizer.load(folder)


def mask_batch(batch: dict, tokenizer: Tokenizer, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ids = batch["input_ids"].clone()
    special = torch.zeros_like(ids, dtype=torch.bool)
    for token_id in tokenizer.special_ids:
        special |= ids == token_id
    chosen = (torch.rand(ids.shape, generator=generator) < 0.15) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    ids[chosen] = tokenizer.mask_id
    return ids, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--files", type=int, default=6, help="how many files of --data to prepare")
    parser.add_argument("--tokenizer", type=Path, default=None)
    parser.add_argument("--mode", default="sentence_pairs")
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", default="bert_tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        tmp = Path(tmp)
        text = tmp / "text"
        text.mkdir()
        for path in sorted(args.data.glob("*.txt"))[: args.files]:
            (text / path.name).symlink_to(path.resolve())
        tokenizer = Tokenizer.load(args.tokenizer) if args.tokenizer else bench_tokenizer(args.data, tmp / "tokenizer")
        corpus = CorpusConfig(name="bench", sources=[SourceConfig(path=str(text / "*.txt"))], document_boundary="line")
        packing = PackingConfig(mode=args.mode, max_seq_len=args.max_seq_len, num_workers=2)
        prepare_corpus(corpus, packing, tokenizer, tmp / "shards", seed=0, progress=False)
        train = ShardSet.open(tmp / "shards").split("train")

        loader = BatchLoader(train, args.batch_size, seed=0, pad_id=tokenizer.pad_id)
        next(iter(loader))
        start = time.perf_counter()
        batches = [loader.next_batch() for _ in range(args.batches)]
        loader_seconds = (time.perf_counter() - start) / args.batches

        node = OmegaConf.merge(OmegaConf.structured(EncoderConfig), OmegaConf.load(REPO / "conf" / "model" / f"{args.model}.yaml"))
        node.vocab_size = tokenizer.vocab_size
        node.pad_token_id = tokenizer.pad_id
        config = OmegaConf.to_object(node)
        model = PretrainingModel(config, nsp=args.mode == "sentence_pairs" and config.pooler).to(args.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        generator = torch.Generator().manual_seed(0)

        def step(batch: dict) -> None:
            ids, labels = mask_batch(batch, tokenizer, generator)
            out = model(
                ids.to(args.device),
                batch["attention_mask"].to(args.device),
                labels.to(args.device),
                token_type_ids=batch["token_type_ids"].to(args.device) if "token_type_ids" in batch else None,
                nsp_labels=batch["nsp_labels"].to(args.device) if model.nsp_head is not None else None,
            )
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        for batch in batches[:3]:
            step(batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        for batch in batches[3 : 3 + args.steps]:
            step(batch)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        step_seconds = (time.perf_counter() - start) / args.steps
    shape = tuple(batches[0]["input_ids"].shape)
    print(f"shards: {len(train):,} train sequences ({args.mode}, max_seq_len {args.max_seq_len}); batch {shape}; "
          f"model {args.model} on {args.device}, {torch.get_num_threads()} threads")
    print(f"{'':30}{'ms / batch':>12}{'batches / s':>14}")
    print(f"{'BatchLoader (padded batch)':30}{loader_seconds * 1e3:>12.3f}{1 / loader_seconds:>14,.0f}")
    print(f"{'training step (fwd+bwd+AdamW)':30}{step_seconds * 1e3:>12.3f}{1 / step_seconds:>14,.1f}")
    ratio = step_seconds / loader_seconds
    print(f"loader is {ratio:,.0f}x faster than the step consumes batches (target >= 20x: {'met' if ratio >= 20 else 'NOT met'})")


if __name__ == "__main__":
    main()
