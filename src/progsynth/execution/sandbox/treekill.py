"""Killing what a program leaves behind without a cgroup: the template is the subreaper of every
program's tree, so when a process dies its children (double-forked daemons included) are
re-parented to the template, never to init; killing the template's children until none is left
therefore reaches the whole tree. Nothing a program does can leave that tree.

``kill_until_gone`` is the one kill-and-recheck loop; the cgroup sweep uses it too."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable


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


def kill_until_gone(find: Callable[[], list[int]], deadline_s: float = 5.0) -> bool:
    """SIGKILL whatever ``find`` lists until it lists nothing; True once it does, False if it still
    lists something after ``deadline_s``. Looping is needed because a victim may fork before its
    kill lands; it converges because a killed process forks no more (and limits cap fork bombs)."""
    end = time.monotonic() + deadline_s
    while True:
        pids = find()
        if not pids:
            return True
        if time.monotonic() > end:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.0005)


def kill_children(parent: int, deadline_s: float = 5.0) -> bool:
    """SIGKILL the children of ``parent`` until none is left alive. Each kill re-parents the
    victim's own children to ``parent`` (a subreaper), so the loop reaches the whole tree."""
    return kill_until_gone(lambda: _children(parent), deadline_s)
