"""The executor interface. Callers build ``ExecRequest``s and read ``Verdict``s; how programs are
isolated (processes, namespaces, rlimits) is the implementation's business and can be swapped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from progsynth.verdicts import Verdict


@dataclass(frozen=True)
class Limits:
    """Per-program resource limits. ``timeout_s`` is CPU time where the host can measure it, so a
    loaded machine does not turn a slow-but-correct program into a timeout; ``wall_timeout_s``
    bounds programs that sleep or block (default: a generous multiple of ``timeout_s``)."""

    timeout_s: float = 10.0
    wall_timeout_s: float | None = None
    memory_mb: int = 1024
    output_bytes: int = 64 * 1024
    file_size_mb: int = 16
    max_processes: int = 16
    max_open_files: int = 64

    @property
    def wall_limit(self) -> float:
        return self.wall_timeout_s if self.wall_timeout_s is not None else max(3 * self.timeout_s, 30.0)


@dataclass(frozen=True)
class ExecRequest:
    """Run ``program``, then ``setup``, then each statement of ``tests`` in order.

    ``key`` is the caller's identifier and comes back with the verdict. ``tests`` are executed one
    by one so a verdict records each test's result.
    """

    key: str
    program: str
    tests: tuple[str, ...]
    setup: str = ""
    limits: Limits = Limits()


class Executor(Protocol):
    """Runs requests and yields ``(key, verdict)`` pairs as they finish, in any order.

    Every request yields exactly one verdict, whatever the program does. Implementations that hold
    resources also offer ``close()`` and the context-manager protocol.
    """

    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]: ...
