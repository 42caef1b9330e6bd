"""Facts about the machine a run is on, measured in one place (cores, environment record)."""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

from progsynth import __version__


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), not merely the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_quota(cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Whole CPUs this process's cgroup (v2) may use, rounded up; None when unlimited or unknown.

    A container limited to 2 CPUs on a 64-core host sees 64 CPUs in its affinity mask and mostly
    idle ones in ``/proc/stat``; without this, a thread count taken from those would oversubscribe
    the quota and be throttled.
    """
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def environment() -> dict[str, Any]:
    """What a results file records about where it was produced."""
    return {
        "progsynth": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
