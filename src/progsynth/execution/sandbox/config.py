"""What the caller decides about the sandbox before the pool process starts: which mechanisms to
try (``SandboxConfig``), which paths programs may import from, and which paths they must not see.

Computed in the caller, never in the pool process: sysconfig and importlib are too heavy to load
there (every module the pool process holds makes each program's fork dearer).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxConfig:
    """Which mechanisms to try. Each degrades, with a warning, where the host cannot provide it.
    ``hidden``: files or directories covered up in the program's view (root only), added to the
    generic ``default_hidden`` ones; a benchmark's data files go here."""

    uid_base: int = 1_500_000_000
    isolate_uid: bool = True
    network_namespace: bool = True
    mount_namespace: bool = True
    landlock: bool = True
    seccomp: bool = True
    cgroups: bool = True
    cgroup_version: int | None = None
    tmp_mb: int = 64
    extra_readable: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


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
    progsynth's data directory and its cache. Data a benchmark keeps elsewhere (inside an installed
    package, say) is the benchmark's to declare and the run's to pass as ``SandboxConfig.hidden``."""
    paths = [os.environ.get("PROGSYNTH_DATA_DIR", ""), os.path.expanduser("~/.cache/progsynth")]
    return tuple(os.path.realpath(p) for p in paths if p and os.path.exists(p))


def hidden_paths(extra: Iterable[str]) -> tuple[str, ...]:
    """``extra`` (the caller's, first) plus the generic defaults, each once."""
    return tuple(dict.fromkeys((*extra, *default_hidden())))
