"""Optional adaptive timeouts: each task's CPU limit is a multiple of its own reference solution's
measured CPU time, never below a floor nor above the base limit. Off by default so results stay
comparable; useful for fast runs over samples that often loop forever."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from progsynth.errors import UsageError
from progsynth.execution.api import ExecRequest, Executor, Limits


@dataclass(frozen=True)
class AdaptiveTimeouts:
    """Per-task CPU limits: ``factor`` x the reference solution's CPU time, at least ``floor_s``."""

    factor: float = 5.0
    floor_s: float = 1.0

    def __post_init__(self) -> None:
        if self.factor < 1.0 or self.floor_s <= 0:
            raise UsageError(f"adaptive timeouts need factor >= 1 and floor > 0, got {self.factor}, {self.floor_s}")

    def limits(self, base: Limits, reference_cpu_s: float | None) -> Limits:
        """``base`` with its CPU limit tightened to factor x the reference's time (floor..base);
        unchanged when the reference time is unknown (it failed or was never measured)."""
        if reference_cpu_s is None:
            return base
        timeout = min(base.timeout_s, max(self.floor_s, self.factor * reference_cpu_s))
        return replace(base, timeout_s=timeout)

    def apply(self, requests: Iterable[ExecRequest], task_of: Mapping[str, str],
              reference_cpu: Mapping[str, float]) -> list[ExecRequest]:
        """Requests with their limits adapted; ``task_of`` maps request key -> task id."""
        return [replace(r, limits=self.limits(r.limits, reference_cpu.get(task_of.get(r.key, ""))))
                for r in requests]


def reference_cpu_times(executor: Executor, references: Iterable[ExecRequest]) -> dict[str, float]:
    """CPU seconds of each reference solution that passes (keyed like the requests, e.g. by task)."""
    return {key: verdict.cpu_s for key, verdict in executor.run(references) if verdict.passed}
