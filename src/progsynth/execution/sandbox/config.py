"""What the caller decides about the sandbox before the pool process starts: which mechanisms to
try (``SandboxConfig``), which paths programs may import from, and which paths they must not see.

Computed in the caller, never in the pool process: sysconfig and importlib are too heavy to load
there (every module the pool process holds makes each program's fork dearer).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SandboxConfig:
    """Which mechanisms to try. Each degrades, with a warning, where the host cannot provide it.
    ``hidden``: files or directories covered up in the program's view (root only), added to the
    generic ``default_hidden`` ones; a benchmark's data files go here. Hidden wins over
    ``extra_readable``; only what the pool cannot run without (the Python installation, its
    scratch directory) is put back inside a hidden directory. ``ipc_namespace``: SysV IPC and
    POSIX message queues of the worker's own (root only; seccomp refuses them anyway)."""

    #: first sandbox uid (one per worker slot); None: a range of this pool's own (``pool_uid_base``)
    uid_base: int | None = None
    isolate_uid: bool = True
    network_namespace: bool = True
    ipc_namespace: bool = True
    mount_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True
    cgroups: bool = True
    cgroup_version: int | None = None
    tmp_mb: int = 64
    extra_readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


UID_FLOOR = 1_500_000_000
#: worker slots one pool's uid range holds; pools in one process take consecutive ranges
UIDS_PER_POOL = 128
_POOLS_PER_PROCESS = 4
_pools_started = 0


def pool_uid_base() -> int:
    """A uid range no other pool on this machine uses at the same time: derived from the creating
    process's pid (unique while it lives) and a per-process counter. Two runs sharing uids could
    reach each other's programs (signals, /proc), and a test counting leftovers would count the
    other run's. The highest base stays below 2**32 - 1 for any pid up to 2**22 (Linux's maximum)."""
    global _pools_started
    slot = os.getpid() % (1 << 22) * _POOLS_PER_PROCESS + _pools_started % _POOLS_PER_PROCESS
    _pools_started += 1
    return UID_FLOOR + slot * UIDS_PER_POOL


def resolve_uids(config: SandboxConfig, workers: int) -> SandboxConfig:
    """``config`` with its uid range fixed, refusing more workers than the range holds."""
    if workers > UIDS_PER_POOL:
        from progsynth.errors import UsageError

        raise UsageError(f"at most {UIDS_PER_POOL} workers per pool (one sandbox uid each), got {workers}")
    return config if config.uid_base is not None else replace(config, uid_base=pool_uid_base())


def pool_sys_path() -> list[str]:
    """The pool's import path: the stdlib, installed packages and progsynth itself, never the
    caller's working directory or test directories (the program may read whatever is on it)."""
    import progsynth

    here = os.path.dirname(os.path.dirname(os.path.abspath(progsynth.__file__)))
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    keep = [p for p in sys.path if p and os.path.isabs(p) and p.startswith(prefixes) and os.path.exists(p)]
    return list(dict.fromkeys([here, *keep]))


def python_dirs() -> tuple[str, ...]:
    """Where the interpreter and importable packages live (the program may import from them)."""
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(), *pool_sys_path()}
    real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    return tuple(p for p in real if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in real))


def default_hidden() -> tuple[str, ...]:
    """Data a program could otherwise read to look up expected outputs, whatever the benchmark:
    progsynth's data directory and its cache, even before they exist (the cache may be made while
    the pool runs). Data a benchmark keeps elsewhere (inside an installed package, say) is the
    benchmark's to declare and the run's to pass as ``SandboxConfig.hidden``."""
    paths = [os.environ.get("PROGSYNTH_DATA_DIR", ""), os.path.expanduser("~/.cache/progsynth")]
    return tuple(os.path.realpath(p) for p in paths if p)


def hidden_paths(extra: Iterable[str]) -> tuple[str, ...]:
    """``extra`` (the caller's, first) plus the generic defaults, each once, as absolute real paths:
    the pool process works from "/", and a symlink is hidden by covering what it points to."""
    return tuple(dict.fromkeys(os.path.realpath(p) for p in (*extra, *default_hidden())))
