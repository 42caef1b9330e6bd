"""The executor interface. Callers build ``ExecRequest``s and read ``Verdict``s; how programs are
isolated (processes, namespaces, rlimits) is the implementation's business and can be swapped.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from progsynth.verdicts import Verdict

if TYPE_CHECKING:
    from progsynth.execution.sandbox.protections import ProtectionStatus


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
        """The wall-clock backstop: programs that sleep or block use no CPU time."""
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


class Executor(abc.ABC):
    """Runs requests and yields ``(key, verdict)`` pairs as they finish, in any order.

    Every request yields exactly one verdict, whatever the program does. A base class rather than a
    protocol so the optional parts have declared defaults every caller can rely on: ``close()`` (a
    no-op), the context-manager protocol (which calls it) and ``protections`` (none claimed).
    Subclasses implement ``run`` and override the rest where they hold resources or isolate.
    """

    @abc.abstractmethod
    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        """The verdicts of ``requests``, streamed as they finish (one per request)."""

    @property
    def protections(self) -> Mapping[str, ProtectionStatus]:
        """Protection name (``Protection.value``) -> what this executor really applies; results
        files record it. Empty here: an executor that isolates nothing claims nothing."""
        return {}

    def close(self) -> None:  # noqa: B027 - a declared default, not something every subclass must write
        """Release whatever the executor holds; calling it again does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
