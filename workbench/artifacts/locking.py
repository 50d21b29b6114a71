"""One writer per output folder: an exclusive, non-blocking ``flock`` on a lock file inside it.

Two ``train`` processes on one run folder (or two ``prepare`` on one shard folder) would interleave their
writes; the second one fails at once instead, naming the holder (pid, host, start time, command), which the
holder writes into the lock file. The kernel releases the lock when the holder exits, however it exits (a
SIGKILL too), so a stale lock file never blocks a rerun. The holder deletes the file when it is done.
A forked child (prepare's helper processes) closes its copy of the lock at once: a helper left behind by a
killed holder must not keep the folder locked.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".workbench.lock"

_held: set[int] = set()  # lock file descriptors this process holds
_fork_hook = False


def _close_in_child() -> None:
    """After ``fork``: the child drops its copies of the parent's locks (closing a copy does not unlock them)."""
    for fd in list(_held):
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


class FolderInUseError(ValueError):
    """Another process holds the folder's lock; the message names it and what to do."""


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote (it writes right after locking: give it a moment)."""
    for _ in range(20):
        try:
            info = json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8"))
            return f"pid {info['pid']} on host {info['host']} since {info['since']} ({info['command']})"
        except (ValueError, KeyError, TypeError, OSError):
            time.sleep(0.05)
    return "a process that did not say who it is"


@contextlib.contextmanager
def folder_lock(folder: Path, what: str) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (``what``: the work, for the messages); yields the lock file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FolderInUseError(
                f"{folder} is in use: {holder} holds its lock {path} ({what}). Wait for that process to finish or"
                " stop it, or use another folder: two processes writing one folder would mix their files"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # a holder that just finished deletes the file: the lock counts only on the file that is still there
        try:
            current = os.stat(path)
            opened = os.fstat(fd)
            if (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    global _fork_hook
    if not _fork_hook:
        os.register_at_fork(after_in_child=_close_in_child)
        _fork_hook = True
    _held.add(fd)
    owner = os.getpid()
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) or "python",
            "what": what,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        yield path
    finally:
        if os.getpid() == owner:  # not in a forked child that unwinds this block: the lock is the parent's
            _held.discard(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # before closing: whoever opens the name next makes a new file, as the check above expects
            os.close(fd)
