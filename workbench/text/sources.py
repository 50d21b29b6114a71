"""Read raw text as a stream: files, globs, folders, compressed files, jsonl, `datasets`.

Nothing here holds a corpus in memory: every reader is a generator. Bytes that
are not valid UTF-8 are replaced (U+FFFD) and counted, never a crash.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import json
import lzma
import os
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, List, Optional, Tuple

from workbench.corpus.config import SourceConfig


class SourceError(ValueError):
    """A corpus source cannot be read; the message names it and the fix."""


@dataclass(frozen=True)
class Document:
    text: str  # lines joined with "\n"
    source: str  # file path or dataset name
    index: int  # position of the document within its source
    language: str


_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}


def resolve_files(pattern: str) -> List[Path]:
    """A file, a folder (every file below it) or a glob, as a sorted list of files."""
    expanded = os.path.expanduser(pattern)
    path = Path(expanded)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    else:
        files = sorted(Path(p) for p in glob.glob(expanded, recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(f"corpus source {pattern!r} matches no file; check the path (relative to {os.getcwd()})")
    return files


def open_binary(path: Path) -> IO[bytes]:
    opener = _OPENERS.get(path.suffix.lower())
    if opener is None:
        return open(path, "rb")
    return opener(path, "rb")  # type: ignore[return-value]


# what a truncated or corrupt .gz/.bz2/.xz raises while it is read (gzip.BadGzipFile is an OSError)
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turns a read error of ``path`` (missing, corrupt or truncated archive) into one ``SourceError``."""
    try:
        yield
    except FileNotFoundError:
        raise SourceError(f"corpus file {str(path)!r} does not exist") from None
    except _UNREADABLE as error:
        kind = f"a valid {path.suffix} archive" if path.suffix.lower() in _OPENERS else "readable"
        raise SourceError(
            f"corpus file {str(path)!r} cannot be read ({type(error).__name__}: {error}); check that it is {kind},"
            " or leave it out of corpus.sources"
        ) from None


_UTF16_32_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _check_utf8(start: bytes, path: Path) -> None:
    """Refuse a file that starts with a UTF-16 or UTF-32 byte-order mark: read as UTF-8 it would give lines of
    replacement characters and NULs, silently."""
    for mark, encoding in _UTF16_32_MARKS:
        if start.startswith(mark):
            raise SourceError(
                f"corpus file {str(path)!r} is {encoding} (it starts with a {encoding} byte-order mark); workbench reads"
                f" UTF-8: convert it, e.g. iconv -f {encoding} -t UTF-8"
            )


@contextmanager
def _open_source_file(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading bytes, refused if UTF-16/UTF-32; read errors become one ``SourceError``."""
    with _reading(path), open_binary(path) as handle:
        _check_utf8(handle.peek(4)[:4], path)  # every opener (file, gzip, bz2, lzma) is buffered
        yield handle


def iter_file_lines(path: Path, stats: Optional[Counter] = None) -> Iterator[str]:
    """Lines of a (possibly compressed) text file without their newline; bad bytes replaced and counted."""
    with _open_source_file(path) as handle:
        for raw in handle:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                if stats is not None:
                    stats["undecodable_lines"] += 1
            yield line.rstrip("\r\n")


# --- the same lines a block at a time (no Python step per line) --------------------------------------------
BLOCK_BYTES = 1 << 18  # 256 KiB: the transient text of one block stays small


def _decode_block(block: bytes) -> Tuple[List[str], Optional[List[int]]]:
    """Lines of a block of whole lines (same as decoding line by line: bad bytes replaced, flagged per line)."""
    try:
        text = block.decode("utf-8")
        flags = None
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines, flags = [], []
        for raw in block.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
                flags.append(0)
            except UnicodeDecodeError:
                lines.append(raw.decode("utf-8", errors="replace"))
                flags.append(1)
    if block.endswith(b"\n"):  # the empty string after the last newline is not a line
        lines.pop()
        if flags is not None:
            flags.pop()
    if b"\r" in block:
        lines = [line.rstrip("\r\n") for line in lines]
    return lines, flags


def iter_file_line_blocks(path: Path) -> Iterator[Tuple[List[str], Optional[List[int]]]]:
    """The lines of a (possibly compressed) text file in blocks of about 256 KiB: ``(lines, undecodable flags)``.

    Same lines as ``workbench.text.sources.iter_file_lines`` (split on b"\\n", trailing "\\r" removed, bytes
    that are not UTF-8 replaced), without a Python generator step per line.
    """
    with _open_source_file(path) as handle:
        rest = b""
        while True:
            data = handle.read(BLOCK_BYTES)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            yield _decode_block(data[: cut + 1])
        if rest:
            yield _decode_block(rest)


_JSON_KINDS = {int: "a number", float: "a number", bool: "a boolean", list: "an array", dict: "an object"}


def _record_text(value: object, field: str, where: str) -> Optional[str]:
    """The text of a jsonl record's or dataset row's field; None for a null (an empty record)."""
    if value is None or isinstance(value, str):
        return value
    raise SourceError(
        f"{where}: field {field!r} holds {_JSON_KINDS.get(type(value), 'a non-string value')}"
        f" ({json.dumps(value, default=str)[:60]}), not a string; fix the record or set the source's text_field"
        " to the field holding the text"
    )


def _iter_jsonl(path: Path, field: str, stats: Optional[Counter]) -> Iterator[str]:
    for number, line in enumerate(iter_file_lines(path, stats), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SourceError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict) or field not in record:
            raise SourceError(f"{path}:{number}: no field {field!r}; set the source's text_field")
        value = _record_text(record[field], field, f"{path}:{number}")
        if value is not None:
            yield value


def _hub_offline() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _iter_datasets(source: SourceConfig) -> Iterator[str]:
    local = Path(os.path.expanduser(source.path))
    try:
        import datasets
    except ImportError:  # pragma: no cover - core dependency
        raise SourceError("the 'datasets' package is needed for sources of kind datasets: pip install datasets") from None
    if local.exists():
        if (local / "dataset_info.json").exists() or (local / "state.json").exists():
            data = datasets.load_from_disk(str(local))
            if isinstance(data, datasets.DatasetDict):
                data = data[source.split]
        else:
            data = datasets.load_dataset(str(local), source.subset, split=source.split, streaming=True)
    else:
        if _hub_offline():
            raise SourceError(
                f"corpus source {source.path!r} is a hub dataset but the hub is offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE);"
                " download it where the hub is reachable and set the source's path to the local copy"
            )
        try:
            data = datasets.load_dataset(source.path, source.subset, split=source.split, streaming=True)
        except Exception as error:  # network or name errors come in many types
            raise SourceError(
                f"cannot load hub dataset {source.path!r} (subset {source.subset!r}): {type(error).__name__}: {error}."
                " If the hub is unreachable, download the dataset elsewhere and point the source's path at the local copy"
            ) from None
    for record in data:
        if source.text_field not in record:
            raise SourceError(f"dataset {source.path!r} has no field {source.text_field!r}; set the source's text_field")
        value = _record_text(record[source.text_field], source.text_field, f"dataset {source.path!r}")
        if value:
            yield value


def iter_source_lines(source: SourceConfig, stats: Optional[Counter] = None) -> Iterator[str]:
    """Every line (text) or record text (jsonl, datasets) of one source, in a fixed order."""
    if source.kind == "datasets":
        yield from _iter_datasets(source)
        return
    for path in resolve_files(source.path):
        if source.kind == "jsonl":
            yield from _iter_jsonl(path, source.text_field, stats)
        else:
            yield from iter_file_lines(path, stats)


def iter_source_documents(source: SourceConfig, boundary: str, stats: Optional[Counter] = None) -> Iterator[Document]:
    """Documents of one source. ``boundary``: blank_line (paragraph-separated), line, or file.

    jsonl records and dataset rows are always one document each.
    """
    index = 0
    if source.kind != "text" or boundary == "line":
        for text in iter_source_lines(source, stats):
            if text.strip():
                yield Document(text, source.path, index, source.language)
                index += 1
        return
    for path in resolve_files(source.path):
        lines: List[str] = []
        for line in iter_file_lines(path, stats):
            if boundary == "blank_line" and not line.strip():
                if lines:
                    yield Document("\n".join(lines), str(path), index, source.language)
                    index += 1
                    lines = []
                continue
            if line.strip():
                lines.append(line)
        if lines:
            yield Document("\n".join(lines), str(path), index, source.language)
            index += 1


LINES_PER_BATCH = 4096  # lines per block for sources read a line at a time (jsonl, datasets)


def iter_source_line_blocks(source: SourceConfig, stats: Optional[Counter] = None) -> Iterator[List[str]]:
    """The lines of ``iter_source_lines`` (same lines, same order, same counts in ``stats``) in blocks:
    plain text files are read and decoded a block of bytes at a time."""
    if source.kind == "text":
        for path in resolve_files(source.path):
            for lines, flags in iter_file_line_blocks(path):
                if flags is not None and stats is not None:
                    bad = sum(flags)
                    if bad:
                        stats["undecodable_lines"] += bad
                yield lines
        return
    block: List[str] = []
    for line in iter_source_lines(source, stats):
        block.append(line)
        if len(block) >= LINES_PER_BATCH:
            yield block
            block = []
    if block:
        yield block
