"""A worker's private view of the host, set up once per worker (root only).

The worker enters its own mount and network namespaces. In that view the whole filesystem is
read-only, the program's working directory is a fresh size-capped tmpfs per program, ``/proc``
hides other users' processes, data directories are covered up, ``/dev/shm`` is the worker's own
(so multiprocessing's semaphores work without touching the host's), and directories the sandbox
uid could not traverse (``/root`` holding a pyenv Python, say) are replaced by a minimal tree that
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


def expose_through(blocked: str, needed: list[str], owner: str = "mode=0755") -> None:
    """Cover ``blocked`` with a tmpfs (world-enterable unless ``owner`` says otherwise) holding bind
    mounts of just ``needed`` (paths beneath it: directories, files or symlinks, recreated as such).
    Whatever appears in ``blocked`` on the host later stays out of the view: this fails closed."""
    links = {p: os.readlink(p) for p in needed if os.path.islink(p)}
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in needed if p not in links}
    try:
        libc.mount("tmpfs", blocked, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, f"{owner},size=1m")
        for p, target in links.items():
            os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
            os.symlink(target, p)
        for p, fd in fds.items():
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.makedirs(p, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
                os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            libc.mount(f"/proc/self/fd/{fd}", p, None, libc.MS_BIND | libc.MS_REC)
    finally:
        for fd in fds.values():
            os.close(fd)


def _beneath(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _same_owner(path: str) -> str:
    """tmpfs options giving a cover the mode and owner of what it covers (no wider access)."""
    st = os.stat(path)
    return f"mode={stat.S_IMODE(st.st_mode):o},uid={st.st_uid},gid={st.st_gid}"


def _nearest_existing(path: str) -> str:
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path


def hide(paths: Iterable[str], keep: Iterable[str], sealed: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Cover what the program must not read: a directory with an empty tmpfs, a file with /dev/null.
    Absolute real paths only (``config.hidden_paths`` makes them so in the caller). A directory
    holding paths the pool itself needs (``keep``: the Python installation, the scratch directory)
    is covered all the same, with just those put back. A path that does not exist yet (a cache made
    later) cannot be covered, so its nearest existing ancestor is, with its present entries put
    back; beneath ``sealed`` (trees ``expose_through`` already replaced) nothing new can appear.
    Returns (hidden, refused), where refused names a path the pool needs itself, or "/"."""
    keep, sealed = list(keep), list(sealed)
    hidden: list[str] = []
    refused: list[str] = []
    for p in sorted(dict.fromkeys(paths), key=lambda q: q.count("/")):
        inside = [k for k in keep if _beneath(k, p)]
        try:
            if p in inside or p == "/":
                refused.append(p)
                continue
            if not os.path.lexists(p):
                if not any(_beneath(p, s) for s in sealed):
                    top = _nearest_existing(p)
                    if top == "/":
                        refused.append(p)
                        continue
                    expose_through(top, [os.path.join(top, n) for n in os.listdir(top)], _same_owner(top))
            elif inside:
                expose_through(p, inside, _same_owner(p))
            elif os.path.isdir(p):
                libc.mount("tmpfs", p, "tmpfs", libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV, "size=4k")
            else:
                libc.mount("/dev/null", p, None, libc.MS_BIND)
            hidden.append(p)
        except OSError:
            refused.append(p)
    return hidden, refused


def cover(path: str, size_mb: int, uid: int) -> bool:
    """A tmpfs of the sandbox uid's own over the host's ``path`` (/dev/shm): nothing the host keeps
    there is visible, and nothing a program puts there reaches the host. One per worker, emptied
    between programs (``empty``) rather than replaced: Landlock's write rule names this very
    directory, and a tmpfs mounted on top of it would not inherit the rule."""
    if not os.path.isdir(path):
        return False
    opts = f"size={size_mb}m,nr_inodes=1024,mode=0700,uid={uid},gid={uid}"
    try:
        libc.mount("tmpfs", path, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC, opts)
        return True
    except OSError:
        return False


def empty(path: str) -> bool:
    """Remove everything in ``path`` (the worker is root here: no mode stops it); True once empty."""
    import shutil

    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                try:
                    os.unlink(entry.path)
                except OSError:
                    pass
    return not os.listdir(path)


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
