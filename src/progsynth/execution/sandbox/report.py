"""What a worker's sandbox really provides, one ``ProtectionStatus`` per protection.

Kept apart from ``plan`` (which only sets mechanisms up and notes refusals) so the wording of the
report can change without touching the code every program's process runs; ``plan`` never imports
this module, the worker calls ``build`` once its sandbox is set up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from progsynth.execution.sandbox import landlock
from progsynth.execution.sandbox.protections import Protection, ProtectionStatus

if TYPE_CHECKING:
    from progsynth.execution.sandbox.plan import WorkerSandbox


def build(sb: WorkerSandbox) -> dict[str, ProtectionStatus]:
    """Protection name -> status, after ``sb.setup()``."""
    statuses = [_uid(sb), _network(sb), _filesystem(sb), _ipc(sb), _landlock(sb), _seccomp(sb), _cgroups(sb),
                _rlimits(sb), ProtectionStatus(Protection.CLEAN_ENV, True, "fresh environment: PATH, HOME, "
                                               "TMPDIR, LANG only"),
                _tree_kill(sb)]
    return {s.protection.value: s for s in statuses}


def _note(sb: WorkerSandbox, p: Protection, default: str) -> str:
    return sb.notes.get(p, default)


def _uid(sb: WorkerSandbox) -> ProtectionStatus:
    if sb.uid is not None:
        return ProtectionStatus(Protection.UID, True, f"uid/gid {sb.uid} (one per worker), no groups")
    why = "disabled" if sb.plan.is_root and not sb.plan.config.isolate_uid else "needs root"
    return ProtectionStatus(Protection.UID, False, _note(sb, Protection.UID, why))


def _network(sb: WorkerSandbox) -> ProtectionStatus:
    if sb.netns:
        return ProtectionStatus(Protection.NETWORK, True, "own network namespace, no interface up")
    if sb.ruleset_fd is not None and sb.plan.landlock_abi >= 4:
        return ProtectionStatus(Protection.NETWORK, True, "Landlock denies TCP bind/connect (UDP not covered)")
    return ProtectionStatus(Protection.NETWORK, False, "no network namespace (needs root) and no Landlock ABI 4")


def _filesystem(sb: WorkerSandbox) -> ProtectionStatus:
    if sb.mount_ns:
        detail = (f"read-only host view, private {sb.plan.config.tmp_mb} MiB tmpfs per program, "
                  f"/proc hides other processes; {_note(sb, Protection.FILESYSTEM, '')}")
        return ProtectionStatus(Protection.FILESYSTEM, True, detail.rstrip("; "))
    return ProtectionStatus(Protection.FILESYSTEM, False,
                            _note(sb, Protection.FILESYSTEM, "no mount namespace (needs root): host "
                                  "filesystem as the uid/Landlock allow, temp dir without a size cap"))


def _ipc(sb: WorkerSandbox) -> ProtectionStatus:
    """Active only where every route is closed: unix sockets by path (seccomp alone), SysV IPC and
    POSIX queues (seccomp, and an IPC namespace), the host's /dev/shm (covered, or Landlock)."""
    lands = sb.ruleset_fd is not None
    parts = []
    if sb.plan.seccomp_filter is not None:
        parts.append("unix sockets only as stream socketpairs, no SysV IPC or POSIX queues (seccomp)")
    if sb.ipcns:
        parts.append("own IPC namespace")
    if sb.private_shm:
        parts.append("private /dev/shm, emptied between programs")
    elif lands:
        parts.append("/dev/shm unreadable (Landlock)")
    if sb.netns or (lands and sb.plan.landlock_abi >= 6):
        parts.append("abstract sockets unreachable")
    active = sb.plan.seccomp_filter is not None and (sb.private_shm or lands)
    if not active:
        missing = "no seccomp: unix sockets reachable by path" if sb.plan.seccomp_filter is None else \
            "the host's /dev/shm is readable"
        parts.insert(0, _note(sb, Protection.IPC, missing))
    return ProtectionStatus(Protection.IPC, active, "; ".join(parts))


def _landlock(sb: WorkerSandbox) -> ProtectionStatus:
    if sb.ruleset_fd is not None:
        return ProtectionStatus(Protection.LANDLOCK, True, landlock.describe(sb.plan.landlock_abi))
    why = "disabled" if not sb.plan.config.landlock else "kernel without Landlock"
    return ProtectionStatus(Protection.LANDLOCK, False, _note(sb, Protection.LANDLOCK, why))


def _seccomp(sb: WorkerSandbox) -> ProtectionStatus:
    flt = sb.plan.seccomp_filter
    if flt is not None:
        return ProtectionStatus(Protection.SECCOMP, True, f"syscall denylist ({flt.instructions} BPF instructions)")
    why = "disabled" if not sb.plan.config.seccomp else "unknown architecture or syscall numbers"
    return ProtectionStatus(Protection.SECCOMP, False, why)


def _cgroups(sb: WorkerSandbox) -> ProtectionStatus:
    cg = sb.cgroup
    if cg is not None:
        limits = ", ".join(sorted(cg.limits_supported)) or "none delegated"
        return ProtectionStatus(Protection.CGROUPS, True, f"cgroup v{cg.version}: tree limits ({limits}), "
                                                          "tree CPU time, leftover processes killed")
    why = "needs root and a writable cgroup hierarchy"
    if not sb.plan.config.cgroups:
        why = "disabled"
    return ProtectionStatus(Protection.CGROUPS, False, _note(sb, Protection.CGROUPS, why))


def _rlimits(sb: WorkerSandbox) -> ProtectionStatus:
    detail = "address space, CPU seconds, file size, open files, core dumps off"
    if sb.uid is not None:
        detail += ", processes per uid"
    return ProtectionStatus(Protection.RLIMITS, True, detail)


def _tree_kill(sb: WorkerSandbox) -> ProtectionStatus:
    if sb.cgroup is not None:
        return ProtectionStatus(Protection.TREE_KILL, True, "kill everything left in the worker's cgroup, then "
                                                            "the template's adopted descendants")
    return ProtectionStatus(Protection.TREE_KILL, True, "kill the template's descendants (it is the subreaper "
                                                        "of every program's tree, so daemons cannot escape)")
