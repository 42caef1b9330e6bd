"""Killing what a program leaves behind without a cgroup: the template is the subreaper of every
program's tree, so when a process dies its children (double-forked daemons included) are
re-parented to the template, never to init; killing the template's children until none is left
therefore reaches the whole tree. Nothing a program does can leave that tree."""

from __future__ import annotations

import os
import signal
import time


def reap_all() -> None:
    """Reap every child that has exited (never blocks)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _children(pid: int) -> list[int]:
    """Live (non-zombie) children of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return [k for k in kids if _state(k) not in ("Z", "X", "")]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def kill_children(parent: int, deadline_s: float = 5.0) -> bool:
    """SIGKILL the children of ``parent`` until none is left alive. Each kill re-parents the
    victim's own children to ``parent`` (a subreaper), so the loop reaches the whole tree."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        kids = _children(parent)
        if not kids:
            return True
        for kid in kids:
            try:
                os.kill(kid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.0005)
    return not _children(parent)
