"""Facts about the machine a run is on, measured in one place (cores, environment record)."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from progsynth import __version__


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), not merely the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def environment() -> dict[str, Any]:
    """What a results file records about where it was produced."""
    return {
        "progsynth": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
