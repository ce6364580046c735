"""Processes by PID: the only way ``biril cluster down`` finds what to stop.

The machine is shared, so nothing here looks processes up by name. A PID is trusted only
together with its kernel start time (``/proc/PID/stat`` field 22): a PID the kernel has
since handed to another program has a different start time and is left alone.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """One line of ``/proc/PID/stat``: what identifies a process and links it to others."""

    pid: int
    state: str
    ppid: int
    pgid: int
    start_ticks: int


def read_proc(pid: int) -> ProcInfo | None:
    """The process ``pid`` as the kernel sees it now, or None if there is none."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = text[text.rfind(")") + 2 :].split()
    return ProcInfo(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start_ticks=int(fields[19]),
    )


def all_procs() -> list[ProcInfo]:
    """Every process visible in ``/proc`` right now."""
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            info = read_proc(int(entry.name))
            if info is not None:
                out.append(info)
    return out


def start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), None if it is gone."""
    info = read_proc(pid)
    return None if info is None else info.start_ticks


def is_running(pid: int, ticks: int | None = None) -> bool:
    """True while ``pid`` exists, is not a zombie, and (if given) started at ``ticks``."""
    info = read_proc(pid)
    if info is None or info.state in ("Z", "X"):
        return False
    return ticks is None or info.start_ticks == ticks


def process_tree(leaders: list[int]) -> dict[int, int]:
    """``{pid: start_ticks}`` of the leaders, their process groups and all descendants.

    Each node is started in its own session, so its process group holds the ``ray start``
    process and the daemons it forks; Ray's worker processes sit in groups of their own
    but descend from the raylet, so the parent links find them.
    """
    procs = all_procs()
    roots = set(leaders)
    tree = {p.pid: p.start_ticks for p in procs if p.pid in roots or p.pgid in roots}
    grew = True
    while grew:
        grew = False
        for p in procs:
            if p.ppid in tree and p.pid not in tree:
                tree[p.pid] = p.start_ticks
                grew = True
    return tree


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our own child, so it leaves no zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def signal_if_same(pid: int, ticks: int, sig: signal.Signals) -> None:
    """Send ``sig`` to ``pid`` only if it is still the process that started at ``ticks``."""
    if is_running(pid, ticks):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(procs: dict[int, int], timeout: float) -> dict[int, int]:
    """Wait up to ``timeout`` s for ``procs`` to exit; return those still running."""
    deadline = time.monotonic() + timeout
    while True:
        for pid in procs:
            reap(pid)
        left = {pid: t for pid, t in procs.items() if is_running(pid, t)}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)
