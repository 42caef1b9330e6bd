"""Which protections a pool actually applies; recorded in results files and shown by
``progsynth sandbox-check``. Each worker reports what it set up; nothing is assumed."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Protection(enum.Enum):
    """Each mechanism the sandbox may apply; its value names it in reports and results files."""

    UID = "uid"  # an unprivileged uid of its own per worker
    NETWORK = "network"  # a network namespace with no interfaces up (or Landlock's TCP rules)
    FILESYSTEM = "filesystem"  # read-only host view, private size-capped tmpfs, data dirs hidden
    IPC = "ipc"  # no host IPC: unix sockets, SysV IPC, POSIX message queues, /dev/shm
    LANDLOCK = "landlock"  # path allowlist, TCP denial, signal/abstract-socket scoping
    SECCOMP = "seccomp"  # denylist of escape-prone syscalls
    CGROUPS = "cgroups"  # tree-wide memory/process limits, CPU accounting, leftover kill
    RLIMITS = "rlimits"  # per-process memory, CPU, file size, open files, processes
    CLEAN_ENV = "clean_env"  # no variables from the caller's environment
    TREE_KILL = "tree_kill"  # the whole process tree dies with the program, daemons included
    INTEGRITY = "integrity"  # tests judged outside the program's process


@dataclass(frozen=True)
class ProtectionStatus:
    """Whether one protection is active on this host, and how (or why not)."""

    protection: Protection
    active: bool
    detail: str


class SandboxWarning(UserWarning):
    """A protection the host cannot provide; the pool runs without it."""


def merge(reports: Iterable[Mapping[str, ProtectionStatus]]) -> dict[str, ProtectionStatus]:
    """A protection counts as active only if every worker has it."""
    merged: dict[str, ProtectionStatus] = {}
    for report in reports:
        for name, status in report.items():
            seen = merged.get(name)
            if seen is None or (seen.active and not status.active):
                merged[name] = status
    return merged


def to_wire(report: Mapping[str, ProtectionStatus]) -> dict[str, list[object]]:
    """Workers report over JSON; see ``from_wire``."""
    return {name: [s.active, s.detail] for name, s in report.items()}


def from_wire(data: Mapping[str, list[object]]) -> dict[str, ProtectionStatus]:
    """A worker's report back into statuses (unknown protection names raise ValueError)."""
    return {name: ProtectionStatus(Protection(name), bool(v[0]), str(v[1])) for name, v in data.items()}


def warn_missing(report: Mapping[str, ProtectionStatus]) -> list[str]:
    """Emit one SandboxWarning per inactive protection; returns the messages."""
    messages = [f"sandbox protection '{name}' is not active: {s.detail}"
                for name, s in sorted(report.items()) if not s.active]
    for message in messages:
        warnings.warn(message, SandboxWarning, stacklevel=3)
    return messages


def format_table(report: Mapping[str, ProtectionStatus]) -> str:
    """One line per protection, in ``Protection`` order (for ``sandbox-check``)."""
    width = max((len(n) for n in report), default=8)
    lines = [f"  {'on ' if s.active else 'OFF'}  {name:<{width}}  {s.detail}"
             for name, s in sorted(report.items(), key=lambda kv: list(Protection).index(kv[1].protection))]
    return "\n".join(lines)
