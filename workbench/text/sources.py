"""Read raw text as a stream: files, globs, folders, compressed files, jsonl, `datasets`.

Nothing here holds a corpus in memory: every reader is a generator. Bytes that
are not valid UTF-8 are replaced (U+FFFD) and counted, unless most lines of a file
are not UTF-8 (``UNDECODABLE_SHARE``): then the file is refused, named, like a
UTF-16/UTF-32 file (with a byte-order mark or the NUL pattern of one without).
jsonl records whose text is null are skipped and counted (``null_records``).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import json
import logging
import lzma
import os
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, List, Optional, Tuple

from workbench.corpus.config import SourceConfig

log = logging.getLogger(__name__)


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
        candidates = [path] if path.is_symlink() else [Path(p) for p in glob.glob(expanded, recursive=True)]
        for candidate in candidates:
            problem = _bad_symlink(candidate)
            if problem:
                raise SourceError(f"corpus source {pattern!r}: {str(candidate)!r} {problem}; fix or remove the link")
        raise SourceError(f"corpus source {pattern!r} matches no file; check the path (relative to {os.getcwd()})")
    return files


def _bad_symlink(path: Path) -> Optional[str]:
    """Why the symlink ``path`` leads to no file (a loop, a missing target); None when it is not a bad symlink."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"is a broken symlink (its target {os.readlink(path)!r} does not exist)"
    except (RuntimeError, OSError):  # RuntimeError (Python < 3.13) or OSError(ELOOP): the links point back to each other
        return "is a symlink loop (following its links comes back to it)"
    return None


def describe_files(sources: Iterable[SourceConfig], limit: int = 5) -> str:
    """The files a list of sources reads (``a.txt, b.txt (+3 more)``), or the dataset names, for error messages."""
    names: List[str] = []
    for source in sources:
        if source.kind == "datasets":
            names.append(f"dataset {source.path!r}")
            continue
        try:
            names += [str(path) for path in resolve_files(source.path)]
        except SourceError:
            names.append(repr(source.path))
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


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


NUL_CHECK_BYTES = 4096  # the start of a file looked at for the NUL pattern of UTF-16/UTF-32 without a BOM
NUL_SHARE = 0.3  # UTF-16 text: at least this share of the bytes at one parity (odd: LE, even: BE) are NUL ...
NUL_OTHER_SHARE = 0.05  # ... and at most this share at the other parity (UTF-8 text has no NUL at all)


def _guess_bomless(start: bytes) -> Optional[str]:
    """UTF-16LE/BE or UTF-32LE/BE when ``start`` has their NUL pattern (many NULs at alternating positions)."""
    n = len(start) - len(start) % 4
    if n < 16:
        return None
    data = start[:n]
    shares = [data[offset::4].count(0) / (n // 4) for offset in range(4)]  # NUL share per position mod 4
    if min(shares[1], shares[2], shares[3]) >= 1 - NUL_OTHER_SHARE and shares[0] <= NUL_OTHER_SHARE:
        return "UTF-32LE"
    if min(shares[0], shares[1], shares[2]) >= 1 - NUL_OTHER_SHARE and shares[3] <= NUL_OTHER_SHARE:
        return "UTF-32BE"
    even, odd = (shares[0] + shares[2]) / 2, (shares[1] + shares[3]) / 2
    if odd >= NUL_SHARE and even <= NUL_OTHER_SHARE:
        return "UTF-16LE"
    if even >= NUL_SHARE and odd <= NUL_OTHER_SHARE:
        return "UTF-16BE"
    return None


def _check_no_bom(start: bytes, path: Path) -> None:
    encoding = _guess_bomless(start)
    if encoding is not None:
        raise SourceError(
            f"corpus file {str(path)!r} looks like {encoding} without a byte-order mark (NUL bytes at alternating"
            f" positions in its first {len(start)} bytes); workbench reads UTF-8: convert it, e.g. iconv -f {encoding} -t UTF-8"
        )


@contextmanager
def _open_source_file(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading bytes, refused if UTF-16/UTF-32 (with a byte-order mark, or without one: NUL
    bytes at alternating positions); read errors become one ``SourceError``."""
    with _reading(path), open_binary(path) as handle:
        start = handle.peek(NUL_CHECK_BYTES)[:NUL_CHECK_BYTES]  # every opener (file, gzip, bz2, lzma) is buffered
        _check_utf8(start[:4], path)
        _check_no_bom(start, path)
        yield handle


UNDECODABLE_SHARE = 0.5  # a file more than half of whose lines are not UTF-8 is refused ...
UNDECODABLE_CHECK_LINES = 1000  # ... as soon as its first 1000 lines show it, else at its end (all its lines)


class _DecodeCheck:
    """Counts a file's lines and those that are not UTF-8; refuses the file when most are not."""

    def __init__(self, path: Path):
        self.path, self.lines, self.bad, self.checked_start = path, 0, 0, False

    def add(self, lines: int, bad: int) -> None:
        self.lines += lines
        self.bad += bad
        if not self.checked_start and self.lines >= UNDECODABLE_CHECK_LINES:
            self.checked_start = True
            self._check(f"of its first {self.lines} lines")

    def finish(self) -> None:
        self._check(f"of its {self.lines} lines")

    def _check(self, where: str) -> None:
        if self.bad and self.bad > UNDECODABLE_SHARE * self.lines:
            raise SourceError(
                f"corpus file {str(self.path)!r} is not UTF-8: {self.bad} {where} are not valid UTF-8 (the limit is"
                f" {UNDECODABLE_SHARE:.0%}); convert it, e.g. iconv -f LATIN1 -t UTF-8 (or the file's real encoding),"
                " or leave it out of corpus.sources"
            )


def iter_file_lines(path: Path, stats: Optional[Counter] = None) -> Iterator[str]:
    """Lines of a (possibly compressed) text file without their newline; bad bytes replaced and counted."""
    check = _DecodeCheck(path)
    with _open_source_file(path) as handle:
        for raw in handle:
            try:
                line = raw.decode("utf-8")
                check.add(1, 0)
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                check.add(1, 1)
                if stats is not None:
                    stats["undecodable_lines"] += 1
            yield line.rstrip("\r\n")
    check.finish()


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
    check = _DecodeCheck(path)

    def checked(decoded: Tuple[List[str], Optional[List[int]]]) -> Tuple[List[str], Optional[List[int]]]:
        lines, flags = decoded
        check.add(len(lines), 0 if flags is None else sum(flags))
        return decoded

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
            yield checked(_decode_block(data[: cut + 1]))
        if rest:
            yield checked(_decode_block(rest))
    check.finish()


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
    nulls = 0
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
        else:
            nulls += 1
            if stats is not None:
                stats["null_records"] += 1
    if nulls:
        log.warning("%s: %d records with %s null skipped (counted as null_records)", path, nulls, field)


def _hub_offline() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _iter_datasets(source: SourceConfig, stats: Optional[Counter] = None) -> Iterator[str]:
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
        elif value is None and stats is not None:
            stats["null_records"] += 1


def iter_source_lines(source: SourceConfig, stats: Optional[Counter] = None) -> Iterator[str]:
    """Every line (text) or record text (jsonl, datasets) of one source, in a fixed order."""
    if source.kind == "datasets":
        yield from _iter_datasets(source, stats)
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
