"""Writing embeddings: ``.npy`` + ``<stem>.ids.jsonl`` (row -> text id), or one ``.parquet`` table.

Sentence embeddings: ``.npy`` ``[N, D]`` float32, row ``i`` is line ``i`` of ``<stem>.ids.jsonl``
(``{"row", "id", "text"}``). Token embeddings: ``.npy`` ``[total tokens, D]``, each jsonl line gives the text's
rows ``[start, end)`` and its tokens. Parquet: columns ``id``, ``text`` and ``embedding`` (list of float32), or
``tokens`` and ``embeddings`` (list of lists) for token embeddings. Files are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence

import numpy as np

from workbench.artifacts.atomic import atomic_file
from workbench.inference.embeddings import TokenEmbeddings
from workbench.inference.inputs import Text
from workbench.inference.model_loading import InferenceError

FORMATS = (".npy", ".parquet")


def ids_path(output: Path) -> Path:
    return output.with_name(output.stem + ".ids.jsonl")


def manifest_path(output: Path) -> Path:
    return output.with_name(output.stem + ".manifest.json")


def check_output(output: str) -> Path:
    path = Path(output).expanduser()
    if path.suffix not in FORMATS:
        raise InferenceError(f"embed.output={output}: unknown format {path.suffix!r}; use a .npy or .parquet file name")
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise InferenceError(f"embed.output={output}: parquet needs pyarrow (pip install pyarrow), or write .npy") from None
    return path


def _write_npy(path: Path, array: np.ndarray) -> None:
    with atomic_file(path, mode="wb", encoding=None) as handle:
        np.save(handle, array)


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    with atomic_file(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_parquet(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_file(path, mode="wb", encoding=None) as handle:
        pq.write_table(pa.table(columns), handle)


def write_sentence_embeddings(path: Path, texts: Sequence[Text], vectors: np.ndarray) -> List[Path]:
    if path.suffix == ".parquet":
        _write_parquet(path, {"id": [t.id for t in texts], "text": [t.text for t in texts],
                              "embedding": [row for row in vectors.astype(np.float32)]})
        return [path]
    _write_npy(path, vectors.astype(np.float32))
    _write_jsonl(ids_path(path), [{"row": i, "id": t.id, "text": t.text} for i, t in enumerate(texts)])
    return [path, ids_path(path)]


def write_token_embeddings(path: Path, texts: Sequence[Text], embeddings: Sequence[TokenEmbeddings]) -> List[Path]:
    if path.suffix == ".parquet":
        _write_parquet(path, {"id": [t.id for t in texts], "text": [t.text for t in texts],
                              "tokens": [e.tokens for e in embeddings],
                              "embeddings": [[row for row in e.vectors.astype(np.float32)] for e in embeddings]})
        return [path]
    _write_npy(path, np.concatenate([e.vectors for e in embeddings], axis=0).astype(np.float32))
    rows, start = [], 0
    for text, e in zip(texts, embeddings):
        rows.append({"id": text.id, "text": text.text, "start": start, "end": start + len(e.tokens), "tokens": e.tokens})
        start += len(e.tokens)
    _write_jsonl(ids_path(path), rows)
    return [path, ids_path(path)]
