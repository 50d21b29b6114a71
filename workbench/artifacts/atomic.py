"""Atomic writes: an artifact is either complete under its final name or absent.

Everything is written under a temporary name in the same directory and then
renamed, so a crash never leaves a half-written file or folder that a later
run could mistake for a finished one. The temporary names are created private
(``mkstemp``: 0600, ``mkdtemp``: 0700); a file, and a folder with everything in it,
gets the permissions of an ordinary ``open``/``mkdir`` under the process umask before
it is renamed, so colleagues of the same group read what a shared umask (022, 002)
lets them read.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def current_umask() -> int:
    """The process umask (read from /proc where Linux has it: setting it to read it back is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_if_created(path: str | Path, directory: bool) -> None:
    """Give a ``mkstemp``/``mkdtemp`` name the mode ``open``/``mkdir`` would have given it (0666/0777 less the umask)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def _tree_as_if_created(root: Path) -> None:
    """The umask's modes on a finished temporary folder and everything in it: libraries write some files
    private whatever the umask (safetensors' ``save_file`` gives 0600). Executable files stay executable."""
    mask = current_umask()
    os.chmod(root, 0o777 & ~mask)
    for folder, subfolders, files in os.walk(root):
        for name in subfolders:
            os.chmod(os.path.join(folder, name), 0o777 & ~mask)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                executable = os.stat(path).st_mode & 0o111
                os.chmod(path, (0o777 if executable else 0o666) & ~mask)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _name_path(error: BaseException, path: Path, tmp: str | Path | None = None) -> None:
    """A write error (disk full, ...) from ``write()`` names no file: name the artifact it was writing (its final
    name, not the temporary one)."""
    if not isinstance(error, OSError):
        return
    if error.filename is None:
        error.filename = str(path)
    elif tmp is not None and str(error.filename).startswith(str(tmp)):
        error.filename = str(path) + str(error.filename)[len(str(tmp)):]


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _as_if_created(tmp, directory=False)
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _name_path(error, path, tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name; rename it to ``path`` when the block succeeds.

    With ``overwrite`` an existing ``path`` is replaced only after the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; remove it or choose another name")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _tree_as_if_created(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        _name_path(error, path, tmp)
        raise
