"""``FolderLock``: one writer per folder, held for as long as its process lives.

Two runs pointed at one folder would both pass a "nothing here yet" check and then write
over each other. A writer therefore takes an OS lock (``flock``) on a lock file before it
looks at the folder, and keeps it until it is done. The kernel drops the lock when the
process ends, however it ends (SIGKILL included), so a killed owner's lock is free again
at once: a stale lock is taken over without anyone deleting anything.

The holder writes who it is (PID, host, since when, what it runs) into the lock file, so a
second writer's refusal can name it. The lock file is opened without truncating it: only
the holder rewrites it. Readers never take the lock and are never blocked.

POSIX only (``fcntl``); ``flock`` works on local filesystems and NFS (Linux emulates it
with byte-range locks there).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from pathlib import Path


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` if new and write a file in it, or raise the ``OSError`` that says
    why not, so a read-only or too-long path fails before any work rather than deep inside."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


class FolderBusy(RuntimeError):
    """Another live process holds the folder; ``holder`` says who (may be empty)."""

    def __init__(self, folder: Path, holder: dict) -> None:
        self.folder = folder
        self.holder = holder
        super().__init__(f"{folder} is in use by {describe_holder(holder)}")


def describe_holder(holder: dict) -> str:
    """``PID 123 on host-a since 2026-12-02 05:30:00 UTC (biril train)``, or what is known."""
    if not holder.get("pid"):
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("since", 0)))
    what = f" ({str(holder['command'])[:80]})" if holder.get("command") else ""
    return f"PID {holder['pid']} on {str(holder.get('host', '?'))[:80]} since {since}{what}"


class FolderLock:
    """An exclusive, non-blocking ``flock`` on ``lock_file``, as a context manager.

    ``with FolderLock(folder / ".biril.lock", "biril train"):`` raises ``FolderBusy`` at
    once (it never waits) when another process holds it.
    """

    def __init__(self, lock_file: str | os.PathLike, command: str) -> None:
        self.path = Path(lock_file)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise FolderBusy(self.path.parent, holder) from None
        except OSError:
            os.close(fd)
            raise
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "command": self.command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # nobody holds it now; the file itself may stay
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    """What the holder wrote about itself (at most 4 KiB), or ``{}`` if unreadable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
