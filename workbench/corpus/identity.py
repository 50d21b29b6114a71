"""Which tokenizer a shard set was made with: its manifest records the tokenizer's hash, users compare it."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Dict, Optional

from workbench.tokenization.tokenizer import Tokenizer

if TYPE_CHECKING:
    from workbench.corpus.shards import ShardSet


def tokenizer_identity(tokenizer: Tokenizer) -> Dict:
    return {
        "sha256": hashlib.sha256(tokenizer.backend.to_str().encode("utf-8")).hexdigest(),
        "family": tokenizer.family,
        "algorithm": tokenizer.algorithm,
        "vocab_size": tokenizer.vocab_size,
    }


def tokenizer_mismatch(shards: "ShardSet", tokenizer: Tokenizer) -> Optional[str]:
    """None when ``shards`` were prepared with ``tokenizer``; else what differs (both hashes and folders).

    The ids in the shards mean something only with the tokenizer that made them: a tokenizer retrained under
    the same name gives other ids (or ids past its vocabulary)."""
    recorded = shards.manifest.get("tokenizer") or {}
    expected, actual = recorded.get("sha256"), tokenizer_identity(tokenizer)["sha256"]
    if expected == actual:
        return None
    return (
        f"the tokenizer is not the one {shards.folder} was prepared with: the shards record tokenizer sha256"
        f" {expected} (folder {recorded.get('directory', 'not recorded')}), {tokenizer.directory} holds sha256 {actual}"
        " (retrained under the same name?)"
    )
