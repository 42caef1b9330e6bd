"""A worker's private view of the host, set up once per worker (root only).

The worker enters its own mount and network namespaces. In that view the whole filesystem is
read-only, the program's working directory is a fresh size-capped tmpfs per program, ``/proc``
hides other users' processes, data directories are covered up, and directories the sandbox uid
could not traverse (``/root`` holding a pyenv Python, say) are replaced by a minimal tree that
exposes only the Python installation. Nothing here is visible to the host or to other workers.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from progsynth.execution.sandbox import libc


def enter_namespaces(network: bool) -> None:
    """New mount (and network) namespace; mounts made here never propagate to the host."""
    libc.unshare(libc.CLONE_NEWNS | (libc.CLONE_NEWNET if network else 0))
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)


def _other_can_enter(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def blocked_ancestor(path: str) -> str | None:
    """The topmost directory on the way to ``path`` that "other" users cannot enter, if any."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if os.path.isdir(current) and not _other_can_enter(current):
            return current
    return None


def unreachable(paths: Iterable[str]) -> dict[str, list[str]]:
    """Blocked ancestor -> the needed paths beneath it."""
    out: dict[str, list[str]] = {}
    for p in paths:
        top = blocked_ancestor(p)
        if top is not None:
            out.setdefault(top, []).append(p)
    return out


def expose_through(blocked: str, needed: list[str]) -> None:
    """Cover ``blocked`` with a world-enterable tmpfs holding bind mounts of just ``needed``."""
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in needed}
    try:
        libc.mount("tmpfs", blocked, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds.items():
            os.makedirs(p, mode=0o755, exist_ok=True)
            libc.mount(f"/proc/self/fd/{fd}", p, None, libc.MS_BIND | libc.MS_REC)
    finally:
        for fd in fds.values():
            os.close(fd)


def hide(paths: Iterable[str]) -> list[str]:
    """Cover directories (an empty read-only tmpfs) and files (/dev/null) the program must not read."""
    hidden = []
    for p in paths:
        try:
            if os.path.isdir(p):
                libc.mount("tmpfs", p, "tmpfs", libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV, "size=4k")
            elif os.path.exists(p):
                libc.mount("/dev/null", p, None, libc.MS_BIND)
            else:
                continue
            hidden.append(p)
        except OSError:
            continue
    return hidden


def private_proc() -> bool:
    """A fresh /proc where the sandbox uid sees only its own processes."""
    try:
        libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, "hidepid=2")
        return True
    except OSError:
        return False


def make_readonly(writable: Iterable[str]) -> None:
    """Every mount read-only, except the trees the worker itself must write (cgroupfs)."""
    libc.mount_setattr_recursive("/", libc.MOUNT_ATTR_RDONLY)
    for path in writable:
        if os.path.isdir(path):
            libc.mount_setattr_recursive(path, 0, libc.MOUNT_ATTR_RDONLY)


def fresh_tmpfs(path: str, size_mb: int, uid: int, gid: int, mounted: bool) -> None:
    """Replace the program's working directory with an empty tmpfs owned by the sandbox uid."""
    if mounted:
        libc.umount(path, libc.MNT_DETACH)
    opts = f"size={size_mb}m,nr_inodes=4096,mode=0700,uid={uid},gid={gid}"
    libc.mount("tmpfs", path, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, opts)
