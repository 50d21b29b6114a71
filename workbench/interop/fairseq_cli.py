"""``python -m workbench fairseq <command> ...``: conversions between workbench artifacts and fairseq's formats.

- ``import-model <fairseq dir> <out dir>``: a RoBERTa/CamemBERT folder (model.pt, dict.txt,
  sentencepiece.bpe.model) -> a workbench model folder (safetensors, tokenizer, manifest);
- ``export-shards <shard set> <tokenizer dir> <out dir>``: a shard set -> fairseq binarized data + dict.txt;
- ``import-shards <fairseq data dir> <tokenizer dir> <out dir>``: fairseq binarized data -> a shard set.

Not a Hydra stage: three paths in, one folder out. Errors are one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workbench fairseq", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("import-model", help="fairseq RoBERTa/CamemBERT folder -> workbench model folder")
    model.add_argument("source", help="folder with model.pt, dict.txt and sentencepiece.bpe.model")
    model.add_argument("output", help="workbench model folder to write")
    model.add_argument("--checkpoint-file", default="model.pt")
    export = commands.add_parser("export-shards", help="workbench shard set -> fairseq .bin/.idx + dict.txt")
    export.add_argument("shards")
    export.add_argument("tokenizer", help="the tokenizer folder the shards were prepared with")
    export.add_argument("output")
    data = commands.add_parser("import-shards", help="fairseq .bin/.idx + dict.txt -> workbench shard set")
    data.add_argument("source")
    data.add_argument("tokenizer", help="a tokenizer folder holding every symbol the data uses")
    data.add_argument("output")
    data.add_argument("--language", default="und", help="language tag of the sequences (default: und)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "import-model":
            from workbench.interop.fairseq_import import convert_fairseq

            print(convert_fairseq(args.source, args.output, args.checkpoint_file))
        else:
            from workbench.corpus.shards import ShardSet
            from workbench.tokenization.tokenizer import Tokenizer

            tokenizer = Tokenizer.load(args.tokenizer)
            if args.command == "export-shards":
                from workbench.corpus.fairseq_export import export_fairseq

                manifest = export_fairseq(ShardSet.open(args.shards), tokenizer, args.output)
            else:
                from workbench.interop.fairseq_dataset import import_fairseq_dataset

                manifest = import_fairseq_dataset(args.source, tokenizer, args.output, language=args.language)
            counts = ", ".join(f"{name}: {info['sequences' if 'sequences' in info else 'items']} sequences"
                               for name, info in manifest["splits"].items())
            print(f"{args.output} ({counts})")
    except ValueError as error:  # workbench's own errors (InteropError, ShardError, TokenizerError, ...)
        if not type(error).__module__.startswith("workbench."):
            raise
        print(f"workbench fairseq {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
