"""Per-worker control groups: the memory and process limits cover the program's whole process tree,
CPU time is summed over that tree, and every process left in the group after a program ends is
killed, double-forked daemons included. The worker joins its group once, so each program's process
is born inside it: moving a process between v1 groups costs about a millisecond per controller.
cgroup v1 (memory, pids, cpuacct) and v2 (cpu.stat, plus memory/pids where delegated) are
supported; ``discover`` returns None where neither is writable.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from progsynth.execution.sandbox import treekill

_V1_CONTROLLERS = ("memory", "pids", "cpuacct")


@dataclass(frozen=True)
class CgroupRoots:
    """Where this process's groups live: v1 controller -> directory, or one v2 directory."""

    version: int
    dirs: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"cgroup v{self.version}: " + ", ".join(sorted(self.dirs))


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) for every cgroup mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if rfields and rfields[0] in ("cgroup", "cgroup2"):
                out.append((fields[4], rfields[0], rfields[2] if len(rfields) > 2 else ""))
    return out


def mount_points() -> list[str]:
    """Every cgroup filesystem mount (the worker keeps these writable in its read-only view)."""
    return sorted({m[0] for m in _mounts()})


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's group path."""
    paths: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                paths[c] = path
    return paths


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK)


def discover(prefer_v2: bool = False) -> CgroupRoots | None:
    """The directories under which a pool may create its groups (v1 preferred where complete)."""
    own = _own_paths()
    v1: dict[str, str] = {}
    v2: str | None = None
    for mount_point, fstype, opts in _mounts():
        if fstype == "cgroup2" and "" in own:
            v2 = mount_point + own[""]
            continue
        for c in _V1_CONTROLLERS:
            if c in opts.split(",") and c in own:
                v1[c] = mount_point + own[c]
    if not prefer_v2 and set(v1) == set(_V1_CONTROLLERS) and all(_writable_dir(d) for d in v1.values()):
        return CgroupRoots(1, v1)
    if v2 and _writable_dir(v2) and os.path.exists(os.path.join(v2, "cgroup.procs")):
        return CgroupRoots(2, {"": v2})
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


class WorkerCgroup:
    """The groups of one worker; its child joins them and nothing else ever runs there."""

    def __init__(self, roots: CgroupRoots, name: str) -> None:
        self.version = roots.version
        self.dirs = {c: os.path.join(d, name) for c, d in roots.dirs.items()}
        for d in self.dirs.values():
            os.makedirs(d, exist_ok=True)
        self.limits_supported: set[str] = set()
        self.exempt = {os.getpid()}  # the worker and its template: never killed as leftovers
        self._cpu_base = 0.0
        if self.version == 2:
            self._enable_v2_controllers(roots.dirs[""], name)
        else:
            self.limits_supported = {"memory", "pids"}

    def _enable_v2_controllers(self, root: str, name: str) -> None:
        """Delegate memory/pids down to the leaf where the hierarchy allows it (a group holding
        processes cannot delegate: then only the kill and cpu.stat are used)."""
        parts = name.split("/")
        ancestors = [os.path.join(root, *parts[:i]) for i in range(len(parts))]
        try:
            for directory in ancestors:
                available = _read(os.path.join(directory, "cgroup.controllers")).split()
                wanted = [c for c in ("memory", "pids") if c in available]
                if wanted:
                    _write(os.path.join(directory, "cgroup.subtree_control"), " ".join("+" + c for c in wanted))
        except OSError:
            pass
        leaf = _read(os.path.join(self.dirs[""], "cgroup.controllers")).split()
        self.limits_supported = {c for c in ("memory", "pids") if c in leaf}

    @property
    def _main(self) -> str:
        return self.dirs["pids"] if self.version == 1 else self.dirs[""]

    def join_self(self) -> None:
        """Move the calling worker into its groups; the programs it forks are born there."""
        for d in self.dirs.values():
            _write(os.path.join(d, "cgroup.procs"), str(os.getpid()))

    def set_limits(self, memory_bytes: int, pids_max: int) -> None:
        """Tree-wide memory and process caps (v2: only those delegated to the leaf)."""
        if self.version == 1:
            _write(os.path.join(self.dirs["memory"], "memory.limit_in_bytes"), str(memory_bytes))
            _write(os.path.join(self.dirs["pids"], "pids.max"), str(pids_max))
            return
        if "memory" in self.limits_supported:
            _write(os.path.join(self.dirs[""], "memory.max"), str(memory_bytes))
            if os.path.exists(os.path.join(self.dirs[""], "memory.swap.max")):
                _write(os.path.join(self.dirs[""], "memory.swap.max"), "0")
        if "pids" in self.limits_supported:
            _write(os.path.join(self.dirs[""], "pids.max"), str(pids_max))

    def _cpu_total(self) -> float:
        """Group CPU minus the worker's own, i.e. the program tree's."""
        if self.version == 1:
            group = int(_read(os.path.join(self.dirs["cpuacct"], "cpuacct.usage"))) / 1e9
        else:
            group = 0.0
            for line in _read(os.path.join(self.dirs[""], "cpu.stat")).splitlines():
                if line.startswith("usage_usec"):
                    group = int(line.split()[1]) / 1e6
        return group - time.process_time()

    def reset_cpu(self) -> None:
        self._cpu_base = self._cpu_total()

    def cpu_seconds(self) -> float:
        """CPU time of the whole program tree since the last ``reset_cpu``."""
        return self._cpu_total() - self._cpu_base

    def procs(self) -> list[int]:
        """Every process in the group but the worker's own (``exempt``)."""
        return [pid for pid in map(int, _read(os.path.join(self._main, "cgroup.procs")).split())
                if pid not in self.exempt]

    def oom_kills(self) -> int:
        """How many processes the memory limit has killed so far (compared before and after a job)."""
        path, key = ((os.path.join(self.dirs["memory"], "memory.oom_control"), "oom_kill")
                     if self.version == 1 else (os.path.join(self.dirs[""], "memory.events"), "oom_kill"))
        try:
            for line in _read(path).splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except OSError:
            pass
        return 0

    def kill_all(self, deadline_s: float = 5.0) -> bool:
        """SIGKILL everything in the group but the worker until it is empty; True once it is. The
        process limit caps a fork bomb, and a killed process cannot fork, so this converges.
        Zombies must be reaped by the caller (the worker is their subreaper)."""
        return treekill.kill_until_gone(self.procs, deadline_s)

    def remove(self) -> None:
        """Remove the (empty) groups; best effort, a killed process leaves its group a moment later."""
        for d in self.dirs.values():
            try:
                os.rmdir(d)
            except OSError:
                pass
