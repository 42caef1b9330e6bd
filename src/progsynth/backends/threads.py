"""How many llama.cpp threads the machine can give a run *now*, measured from CPU time.

Why not the load average (the previous rule): it lags by minutes. Right after another job ends it
still says a core is busy, and once a 1-thread run starts, the run itself keeps it there, so a
whole split ran at half speed on an idle machine. Here the free cores are measured directly over a
short window, from ``/proc/stat`` (idle time of the CPUs this process may use), and the CPU this
run itself used in that window (this process with all its threads, plus every descendant process:
the executor's worker pool and the programs it runs) counts as free, because it is ours to give.

Why not simply every core: llama.cpp threads meet at a barrier after every layer, so when another
process holds part of a core a 2-thread decode stalls at every barrier (measured on 2 cores: 1.3-8
tok/s with 2 threads against 10-12 with 1). A core counts only when at least ``1 - MARGIN`` of it
is free.

``choose_threads`` is the pure rule over the measured numbers; ``snapshot``/``measure`` read
``/proc``; ``ThreadMonitor`` re-checks during a long run from snapshots taken between requests
(no sleeping: the window is the time since the last check).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from progsynth.machine import cpu_quota, usable_cores

#: A core counts as free when at least ``1 - MARGIN`` of it was: 2 threads beat 1 only while the
#: other thread is almost never descheduled (barrier stalls, see the module docstring).
MARGIN = 0.3
#: The start-up measurement window: long enough for 10 ms ticks to average (40+ per core), short
#: enough not to show in a run's start-up.
START_WINDOW_S = 0.4
PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU ticks (USER_HZ) at one moment: all usable CPUs, their idle part, this run's part."""

    at: float
    total: int
    idle: int
    own: int
    cpus: int


@dataclass(frozen=True)
class CpuUse:
    """Cores' worth of CPU over a window: idle, and used by this run (its process tree)."""

    idle: float
    own: float
    window_s: float

    @property
    def free(self) -> float:
        """What this run could have had: the idle cores plus the ones it used itself."""
        return max(0.0, self.idle + self.own)


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and the one-line reason recorded with the run."""

    threads: int
    reason: str


def choose_threads(cores: int, use: CpuUse | None, load_avg: float | None = None) -> ThreadChoice:
    """The thread count for ``cores`` usable cores given the measured ``use`` (pure).

    Free = idle + this run's own use, capped at ``cores``; a core counts when ``1 - MARGIN`` of it
    is free; at least one thread. Without a measurement (no ``/proc``) it falls back to the
    1-minute ``load_avg``, and to half the cores when even that is missing.
    """
    if use is None:
        if load_avg is None:
            return ThreadChoice(max(1, cores // 2), f"CPU use unreadable: half of {cores} cores")
        threads = max(1, min(cores, round(cores - load_avg)))
        return ThreadChoice(threads, f"no /proc/stat: 1-minute load average {load_avg:.2f} on {cores} cores")
    free = min(float(cores), use.free)
    threads = max(1, min(cores, math.floor(free + MARGIN)))
    own = f" ({use.idle:.1f} idle + {use.own:.1f} this run's)" if use.own >= 0.05 else ""
    return ThreadChoice(threads, f"{free:.1f} of {cores} cores free over {use.window_s:.1f} s{own}")


def parse_proc_stat(text: str, cpus: Collection[int] | None = None) -> tuple[int, int, int]:
    """``(total, idle, count)`` ticks summed over the per-CPU lines of ``/proc/stat`` in ``cpus``.

    Idle includes iowait (a core waiting for the disk is free to compute). Guest time is already
    inside user/nice, so only the first eight fields are summed. ``cpus`` None: every CPU listed.
    """
    total = idle = count = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        fields = [int(x) for x in rest.split()[:8]]
        total += sum(fields)
        idle += fields[3] + (fields[4] if len(fields) > 4 else 0)
        count += 1
    return total, idle, count


def parse_pid_stat(text: str) -> tuple[int, int]:
    """``(ppid, ticks)`` from ``/proc/<pid>/stat``: user + system time of the process (all its
    threads) plus that of its children it has waited for, so work of exited children still counts.

    The command name is in parentheses and may contain spaces or ')', hence the split at the last ')'.
    """
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return int(fields[1]), sum(int(x) for x in fields[11:15])


def tree_ticks(root: int, proc: Path = PROC) -> int:
    """CPU ticks of process ``root`` and all its descendants (one pass over ``/proc``)."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid, used = parse_pid_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked, or not ours to read
        parent[int(entry.name)], ticks[int(entry.name)] = ppid, used
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total


def snapshot(proc: Path = PROC, pid: int | None = None, cpus: Collection[int] | None = None) -> CpuSnapshot | None:
    """Cumulative ticks now, or None where ``/proc/stat`` cannot be read (not Linux)."""
    try:
        text = (proc / "stat").read_text()
    except OSError:
        return None
    if cpus is None and hasattr(os, "sched_getaffinity"):
        cpus = os.sched_getaffinity(0)
    total, idle, count = parse_proc_stat(text, cpus)
    if count == 0:
        return None
    own = tree_ticks(os.getpid() if pid is None else pid, proc)
    return CpuSnapshot(time.monotonic(), total, idle, own, count)


def usage_between(a: CpuSnapshot, b: CpuSnapshot) -> CpuUse | None:
    """Cores' worth of idle and own CPU between two snapshots; None if no tick passed."""
    per_cpu = (b.total - a.total) / max(1, b.cpus)
    if per_cpu <= 0:
        return None
    own = max(0.0, (b.own - a.own) / per_cpu)  # a descendant re-parented away can make it negative
    return CpuUse(idle=(b.idle - a.idle) / per_cpu, own=own, window_s=b.at - a.at)


def measure(window_s: float = START_WINDOW_S, proc: Path = PROC) -> CpuUse | None:
    """Idle and own CPU over the next ``window_s`` seconds (sleeps that long)."""
    first = snapshot(proc)
    if first is None:
        return None
    time.sleep(window_s)
    second = snapshot(proc)
    return None if second is None else usage_between(first, second)


def thread_cores() -> int:
    """The cores threads may be spread over: the affinity mask, within any cgroup CPU quota."""
    return min(usable_cores(), cpu_quota() or usable_cores())


def current_choice(window_s: float = START_WINDOW_S) -> ThreadChoice:
    """``choose_threads`` on a fresh measurement of this machine (takes ``window_s``)."""
    try:
        load: float | None = os.getloadavg()[0]
    except OSError:
        load = None
    return choose_threads(thread_cores(), measure(window_s), load)


class ThreadMonitor:
    """Re-checks the thread choice every ``interval_s`` seconds, cheaply, and confirms a change.

    ``check`` is called between requests; when the interval has passed it takes a snapshot and
    judges the window since the previous one, so the window is the whole interval (an average
    over what the run really met, its own llama.cpp threads included) and nothing sleeps. A change
    is proposed only when ``confirm`` consecutive windows agree on it: a restart costs a model load
    and the cached prompt, so a load that comes and goes within one window must not cause one.
    """

    def __init__(self, cores: int, interval_s: float = 20.0, confirm: int = 2,
                 snap: Callable[[], CpuSnapshot | None] = snapshot) -> None:
        self.cores = cores
        self.interval_s = interval_s
        self.confirm = confirm
        self._snap = snap
        self._last = snap()
        self._seen: list[ThreadChoice] = []

    def check(self, current: int) -> ThreadChoice | None:
        """A choice other than ``current`` once ``confirm`` windows in a row found it, else None."""
        if self._last is None or time.monotonic() - self._last.at < self.interval_s:
            return None
        now = self._snap()
        if now is None:
            return None
        use, self._last = usage_between(self._last, now), now
        if use is None:
            return None
        choice = choose_threads(self.cores, use)
        if choice.threads == current:
            self._seen = []
            return None
        self._seen = [c for c in self._seen if c.threads == choice.threads][-(self.confirm - 1):] + [choice]
        if len(self._seen) < self.confirm:
            return None
        self._seen = []
        return choice
