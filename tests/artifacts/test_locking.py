"""One process per output folder: a second one fails at once naming the holder; a dead holder blocks nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from workbench.artifacts.locking import LOCK_FILE, FolderInUseError, folder_lock

REPO = Path(__file__).resolve().parents[2]

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from workbench.artifacts.locking import folder_lock
    with folder_lock(Path(sys.argv[1]), "test"):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock until it is killed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    holder = hold_lock(folder)
    try:
        with pytest.raises(FolderInUseError) as error:
            with folder_lock(folder, "train"):
                pass
        message = str(error.value)
        assert f"{folder} is in use: pid {holder.pid} on host {socket.gethostname()}" in message
        assert str(folder / LOCK_FILE) in message
        recorded = json.loads((folder / LOCK_FILE).read_text())
        assert recorded["pid"] == holder.pid and recorded["host"] == socket.gethostname()
    finally:
        holder.kill()
        holder.wait()
    # killed: the kernel released its lock, and the file it left behind does not block
    assert (folder / LOCK_FILE).exists()
    with folder_lock(folder, "train"):
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_FILE).exists()  # removed when released


def test_released_locks_are_taken_again_by_the_next_one(tmp_path):
    for _ in range(3):
        with folder_lock(tmp_path, "x"):
            with pytest.raises(FolderInUseError):  # flock locks are per open file: the same process is refused too
                with folder_lock(tmp_path, "y"):
                    pass
    assert list(tmp_path.iterdir()) == []


FORK_THEN_HOLD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from workbench.artifacts.locking import folder_lock
    with folder_lock(Path(sys.argv[1]), "test"):
        child = os.fork()
        if child == 0:
            time.sleep(60)  # a helper that outlives its killed parent
            os._exit(0)
        print(child, flush=True)
        time.sleep(120)
    """
)


def test_a_forked_child_does_not_keep_the_lock_of_a_killed_holder(tmp_path):
    """prepare's helper processes are forked while it holds the lock: one left behind must not hold the folder."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", FORK_THEN_HOLD, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    holder.kill()
    holder.wait()
    try:
        assert (tmp_path / LOCK_FILE).exists()  # killed: left behind, with the child alive
        with folder_lock(tmp_path, "next"):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
