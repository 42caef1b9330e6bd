"""Adaptive timeouts: each task's CPU limit is a multiple of its own reference solution's measured
CPU time, never below a floor nor above the base limit.

Why: model samples (T=0.5 especially) often loop forever, and every loop burns its whole CPU limit;
with a fixed 10 s limit the loops dominate a run. MBPP-style references need milliseconds, so a
limit of ``factor`` x the reference (at least ``floor_s``) stops loops early while leaving correct
but slower programs ample room. The limit is CPU time (see ``Limits``), which a loaded machine
barely inflates, so the floor can be far below a wall-clock floor of the same safety.

References are measured once per machine and cached (``default_cache_dir()/adaptive-timeouts``):
one JSON file per machine fingerprint, entries keyed by a hash of the reference's program, setup,
tests and limits, so a changed dataset is measured again. Only the CPU limit adapts; the wall-clock
backstop stays the base's. ``Calibration.off()`` is the strict mode (every task keeps the base).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from progsynth.errors import UsageError
from progsynth.execution.api import ExecRequest, Executor, Limits

#: version of the cache's contents; bump when what a measurement means changes
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class AdaptiveTimeouts:
    """The policy: a task's CPU limit is ``factor`` x its reference's CPU time, at least ``floor_s``,
    and at least ``import_floor_s`` for a program that imports beyond the standard library.

    Defaults, measured on a 2-core VM: a sandboxed MBPP/HumanEval reference takes 2 ms of CPU (median;
    the slowest common one 0.11 s, which gets 1.1 s), so the floor decides for almost every task.
    0.25 s is 100x the median reference and 10x the CPU a loaded machine added to any reference
    here (every MBPP reference passed its limit beside two CPU hogs); the factor of 10 covers
    slower-but-correct solutions of tasks whose reference is itself slow. What a small floor would
    wrongly stop is a fixed cost no reference shows: importing a large package (numpy 0.07 s, sympy
    0.17 s, pandas 0.3 s of CPU here), hence the import floor. Loops pay the floor, so it sets the
    speed on sampled workloads: 0.25 s makes the whole MBPP workload ~2x faster than evalplus."""

    factor: float = 10.0
    floor_s: float = 0.25
    import_floor_s: float = 1.0

    def __post_init__(self) -> None:
        if not (self.factor >= 1.0 and self.floor_s > 0 and self.import_floor_s >= 0):  # also refuses NaN
            raise UsageError(f"adaptive timeouts need factor >= 1, floor > 0 and import floor >= 0, got "
                             f"{self.factor}, {self.floor_s}, {self.import_floor_s}")

    def timeout_s(self, reference_cpu_s: float, program: str = "") -> float:
        """The CPU limit this policy gives a ``program`` (if known) of a task whose reference took
        ``reference_cpu_s``."""
        floor = max(self.floor_s, self.import_floor_s) if imports_beyond_stdlib(program) else self.floor_s
        return max(floor, self.factor * reference_cpu_s)

    def limits(self, base: Limits, reference_cpu_s: float | None, program: str = "") -> Limits:
        """``base`` with its CPU limit tightened (never loosened); ``base`` itself when the reference
        time is unknown. The wall-clock backstop is pinned to the base's so it does not shrink."""
        if reference_cpu_s is None:
            return base
        timeout = min(base.timeout_s, self.timeout_s(reference_cpu_s, program))
        if timeout >= base.timeout_s:
            return base
        return replace(base, timeout_s=timeout, wall_timeout_s=base.wall_limit)

    def apply(self, requests: Iterable[ExecRequest], task_of: Mapping[str, str],
              reference_cpu: Mapping[str, float]) -> list[ExecRequest]:
        """Requests with their limits adapted (``task_of``: request key -> task id). Kept for callers
        of the first version; ``Calibration.apply`` is the same with the times it measured."""
        return Calibration(self, reference_cpu).apply(requests, task_of)


@dataclass(frozen=True)
class Calibration:
    """Measured reference CPU times and the policy that turns them into per-task limits.

    ``policy`` None means adaptive timeouts are off (strict comparisons): every task keeps the base."""

    policy: AdaptiveTimeouts | None
    reference_cpu: Mapping[str, float] = field(default_factory=dict)  # task id -> CPU seconds
    failed: tuple[str, ...] = ()  # tasks whose reference did not pass: they keep the base limits
    measured: int = 0
    cached: int = 0
    seconds: float = 0.0
    machine: str = ""

    @classmethod
    def off(cls) -> Calibration:
        """The strict mode: no measurement, base limits everywhere."""
        return cls(None)

    def limits_for(self, task_id: str, base: Limits, program: str = "") -> Limits:
        """The limits for ``program``, a sample of ``task_id`` (pass it: a program importing a large
        package gets the import floor); ``base`` when off, unknown, or the reference failed."""
        if self.policy is None:
            return base
        return self.policy.limits(base, self.reference_cpu.get(task_id), program)

    def apply(self, requests: Iterable[ExecRequest], task_of: Mapping[str, str]) -> list[ExecRequest]:
        """Requests with their limits adapted; ``task_of`` maps request key -> task id."""
        return [replace(r, limits=self.limits_for(task_of.get(r.key, ""), r.limits, r.program)) for r in requests]

    def to_json(self, base: Limits | None = None) -> dict[str, Any]:
        """What a results file records; with ``base``, the limit summary is capped by it as applied."""
        if self.policy is None:
            return {"enabled": False}
        cap = base.timeout_s if base is not None else float("inf")
        limits = sorted(min(cap, self.policy.timeout_s(t)) for t in self.reference_cpu.values())
        summary = ({"min": round(limits[0], 4), "median": round(statistics.median(limits), 4),
                    "max": round(limits[-1], 4)} if limits else {})
        return {"enabled": True, "factor": self.policy.factor, "floor_s": self.policy.floor_s,
                "import_floor_s": self.policy.import_floor_s,
                "references": len(self.reference_cpu) + len(self.failed), "measured": self.measured,
                "cached": self.cached, "failed": sorted(self.failed), "seconds": round(self.seconds, 3),
                "limit_s": summary, "machine": self.machine}


_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)|^[ \t]*from[ \t]+([A-Za-z_]\w*)", re.MULTILINE)


def imports_beyond_stdlib(program: str) -> bool:
    """Whether ``program`` imports a top-level module outside the standard library (a cheap textual
    scan: an import it misses, e.g. through ``__import__``, only gets the ordinary floor)."""
    for plain, source in _IMPORT.findall(program):
        names = [source] if source else [part.split()[0] for part in plain.split(",") if part.split()]
        if any(name.split(".")[0] not in sys.stdlib_module_names for name in names):
            return True
    return False


def machine_fingerprint() -> str:
    """What makes CPU times comparable: CPU model, core count, architecture, Python version."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    facts = [platform.machine(), model or platform.processor(), str(os.cpu_count()),
             platform.python_implementation(), platform.python_version()]
    return hashlib.sha256("\0".join(facts).encode()).hexdigest()[:16]


def reference_key(request: ExecRequest) -> str:
    """A reference's identity in the cache: its program, setup, tests and limits."""
    blob = json.dumps([request.program, request.setup, list(request.tests), repr(request.limits)])
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def default_cache_dir() -> Path:
    """``<progsynth cache>/adaptive-timeouts``."""
    from progsynth.benchmarks.base import default_cache_dir as base_dir

    return base_dir() / "adaptive-timeouts"


def calibrate(executor: Executor, references: Mapping[str, ExecRequest], policy: AdaptiveTimeouts | None = None,
              cache: Path | None = None) -> Calibration:
    """Measure each task's reference (``task id -> request``) once per machine, reusing ``cache``
    (a directory; None: measure everything and store nothing). A reference that does not pass
    leaves its task on the base limits and is not cached, so a transient failure is retried."""
    policy = policy or AdaptiveTimeouts()
    machine = machine_fingerprint()
    start = time.perf_counter()
    path = cache / f"{machine}.json" if cache is not None else None
    stored = _load(path)
    keys = {task: reference_key(req) for task, req in references.items()}
    cpu = {task: stored[key] for task, key in keys.items() if key in stored}
    todo = [replace(req, key=task) for task, req in references.items() if task not in cpu]
    measured = {task: verdict.cpu_s for task, verdict in executor.run(todo) if verdict.passed}
    cpu.update(measured)
    if path is not None and measured:
        _store(path, {keys[task]: t for task, t in measured.items()})
    failed = tuple(sorted(set(references) - set(cpu)))
    return Calibration(policy, cpu, failed, len(todo), len(references) - len(todo),
                       time.perf_counter() - start, machine)


def reference_cpu_times(executor: Executor, references: Iterable[ExecRequest]) -> dict[str, float]:
    """CPU seconds of each reference that passes, keyed like the requests, uncached (first version's
    API; ``calibrate`` caches and records)."""
    return {key: verdict.cpu_s for key, verdict in executor.run(references) if verdict.passed}


def _load(path: Path | None) -> dict[str, float]:
    """The cached measurements, or none when the file is missing, unreadable or of another format."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != _CACHE_FORMAT:
            return {}
        return {str(k): float(v) for k, v in data["cpu_s"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _store(path: Path, new: Mapping[str, float]) -> None:
    """Merge ``new`` into the file atomically (runs sharing the cache never see half a file)."""
    merged = {**_load(path), **new}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"format": _CACHE_FORMAT, "cpu_s": merged}, f)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
