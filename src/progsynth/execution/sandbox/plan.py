"""Sandbox policy: what the pool plans once (``HostPlan``, in the pool process), what each worker sets
up once (``WorkerSandbox.setup``) and what each program's process enters before any of its code
runs (``WorkerSandbox.enter``). Mechanisms the host lacks are reported (see ``report``, which
reads a set-up ``WorkerSandbox``), never faked.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from dataclasses import dataclass, field

from progsynth.execution.api import Limits
from progsynth.execution.sandbox import cgroups, isolation, landlock, libc, seccomp, treekill
from progsynth.execution.sandbox.config import UID_FLOOR, SandboxConfig
from progsynth.execution.sandbox.protections import Protection

# not /dev: the device files a program needs are Landlock rules of their own (``LandlockPolicy``), and
# the rest of /dev is the host's IPC (/dev/shm, /dev/mqueue, FIFOs, sockets) and hardware
SYSTEM_READABLE = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc", "/proc",
                   "/sys/devices/system/cpu")
SHM_DIR = "/dev/shm"
CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_SETUP_FAILED = 121  # exit status of a child that could not enter its sandbox
RULESET_FD = 4  # in the template and each program's process, until Landlock is entered
CTRL_FD = 5  # the template's socket to its worker (closed in each program's process)


@dataclass
class HostPlan:
    """Decided once in the pool process and inherited by every worker it forks."""

    config: SandboxConfig
    pool_name: str
    scratch: str
    python: tuple[str, ...]
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    landlock_abi: int = 0
    seccomp_filter: seccomp.SeccompFilter | None = None
    cgroup_roots: cgroups.CgroupRoots | None = None

    @classmethod
    def create(cls, config: SandboxConfig, scratch: str, python: tuple[str, ...]) -> HostPlan:
        """``scratch``: an empty directory made by the caller; ``python``: see ``config.python_dirs``."""
        os.chmod(scratch, 0o711)
        plan = cls(config, f"progsynth-{os.getpid()}", scratch, python)
        plan.landlock_abi = landlock.abi_version() if config.landlock else 0
        plan.seccomp_filter = seccomp.prepare() if config.seccomp else None
        if config.cgroups and plan.is_root:
            plan.cgroup_roots = cgroups.discover(prefer_v2=config.cgroup_version == 2)
        return plan

    @property
    def read_dirs(self) -> tuple[str, ...]:
        """What Landlock lets programs read: the system, the Python installation, extras."""
        return tuple(dict.fromkeys(SYSTEM_READABLE + self.python + self.config.extra_readable))


class WorkerSandbox:
    """One worker's isolation context; ``enter`` runs in each program's freshly forked process."""

    def __init__(self, plan: HostPlan, slot: int) -> None:
        self.plan = plan
        self.slot = slot
        cfg = plan.config
        base = cfg.uid_base if cfg.uid_base is not None else UID_FLOOR
        self.uid: int | None = base + slot if plan.is_root and cfg.isolate_uid else None
        self.mount_ns = False
        self.netns = False
        self.ipcns = False
        self.tmpfs_mounted = False
        self.private_shm = False  # SHM_DIR is the worker's own tmpfs, emptied between programs
        self.write_root = os.path.join(plan.scratch, f"w{slot}")
        self.job_dir = os.path.join(self.write_root, "job")
        self.cgroup: cgroups.WorkerCgroup | None = None
        self.ruleset_fd: int | None = None
        self._seccomp: seccomp.Installer | None = None
        self._cgroup_limits: tuple[int, int] | None = None
        self.template_pid: int | None = None
        self.notes: dict[Protection, str] = {}

    # ----- once per worker -------------------------------------------------------------------
    def setup(self) -> None:
        """Namespaces, filesystem view, cgroup, Landlock ruleset and the state every program's
        process inherits; what could not be set up is left in ``notes`` for ``report.build``."""
        os.makedirs(self.job_dir, mode=0o711, exist_ok=True)
        os.chmod(self.write_root, 0o711)
        if self.plan.is_root:
            self._namespaces()
        if self.uid is not None and not self.mount_ns and isolation.unreachable(self.plan.python):
            self.notes[Protection.UID] = "the Python installation is not readable by other users"
            self.uid = None
        self._cgroup()
        self._landlock()
        if self.cgroup is not None:
            self.cgroup.kill_all()  # a previous worker of this slot may have left some
        self._child_state()

    def _child_state(self) -> None:
        """What every program's process inherits, set once here rather than after each fork: a
        clean environment, default signal dispositions, the seccomp program laid out in memory."""
        os.environ.clear()
        os.environ.update({"PATH": CHILD_PATH, "HOME": self.job_dir, "TMPDIR": self.job_dir, "LANG": "C.UTF-8"})
        if "tempfile" in sys.modules:
            setattr(sys.modules["tempfile"], "tempdir", self.job_dir)  # noqa: B010 - not imported here
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        flt = self.plan.seccomp_filter
        self._seccomp = seccomp.Installer(flt) if flt is not None else None

    def _namespaces(self) -> None:
        cfg = self.plan.config
        try:
            if cfg.mount_namespace:
                isolation.enter_namespaces(network=cfg.network_namespace)
                self.mount_ns = True
                self.netns = cfg.network_namespace
                self._filesystem_view()
            elif cfg.network_namespace:
                libc.unshare(libc.CLONE_NEWNET)
                self.netns = True
        except OSError as exc:
            self.notes[Protection.FILESYSTEM] = f"namespaces refused: {exc}"
        if cfg.ipc_namespace:
            try:  # SysV IPC and POSIX message queues of the host become invisible
                libc.unshare(libc.CLONE_NEWIPC)
                self.ipcns = True
            except OSError as exc:
                self.notes[Protection.IPC] = f"IPC namespace refused: {exc}"

    def _filesystem_view(self) -> None:
        blocked = isolation.unreachable(self.plan.python)
        for top, needed in blocked.items():
            isolation.expose_through(top, needed)
        keep = (*self.plan.python, os.path.realpath(self.plan.scratch))
        hidden, refused = isolation.hide(self.plan.config.hidden, keep, blocked)
        note = f"{len(hidden)} data path(s) hidden"
        self.notes[Protection.FILESYSTEM] = note + (f", NOT hidden: {', '.join(refused)}" if refused else "")
        uid = self.uid if self.uid is not None else os.getuid()
        self.private_shm = isolation.cover(SHM_DIR, self.plan.config.tmp_mb, uid)
        isolation.private_proc()
        isolation.make_readonly([*cgroups.mount_points(), "/proc", SHM_DIR])

    def _cgroup(self) -> None:
        roots = self.plan.cgroup_roots
        if roots is None:
            return
        try:
            self.cgroup = cgroups.WorkerCgroup(roots, f"{self.plan.pool_name}/w{self.slot}")
            self.cgroup.join_self()
            _write_file("/proc/self/oom_score_adj", "-1000")
        except OSError as exc:
            self.notes[Protection.CGROUPS] = f"cannot create groups: {exc}"

    def _landlock(self) -> None:
        abi = self.plan.landlock_abi
        if abi <= 0:
            return
        writable = (self.write_root, SHM_DIR) if self.private_shm else (self.write_root,)
        policy = landlock.LandlockPolicy(read_dirs=self.plan.read_dirs, write_dirs=writable)
        try:
            self.ruleset_fd = landlock.build_ruleset(policy, abi)
        except OSError as exc:
            self.notes[Protection.LANDLOCK] = f"ruleset refused: {exc}"

    def exempt(self, pid: int) -> None:
        """The worker's template: shares its group, adopts its orphans, is no leftover itself."""
        self.template_pid = pid
        if self.cgroup is not None:
            self.cgroup.exempt.add(pid)

    # ----- once per program ------------------------------------------------------------------
    def prepare_job(self, limits: Limits) -> None:
        """An empty working directory and the program's tree-wide limits (writes only on change)."""
        uid = self.uid if self.uid is not None else os.getuid()
        if self.mount_ns:
            if not self.tmpfs_mounted or os.listdir(self.job_dir):
                isolation.fresh_tmpfs(self.job_dir, self.plan.config.tmp_mb, uid, uid, self.tmpfs_mounted)
                self.tmpfs_mounted = True
            os.chmod(self.job_dir, 0o700)
            if self.private_shm and os.listdir(SHM_DIR) and not isolation.empty(SHM_DIR):
                self._lose_shm()
        else:
            os.makedirs(self.job_dir, mode=0o700, exist_ok=True)
            if self.uid is not None:
                os.chown(self.job_dir, uid, uid)
        if self.cgroup is not None:
            # the worker shares the group (its programs are born there): allow for it
            wanted = ((limits.memory_mb + 64) * 1024 * 1024, limits.max_processes + 1)
            if wanted != self._cgroup_limits:
                self.cgroup.set_limits(*wanted)
                self._cgroup_limits = wanted
            self.cgroup.reset_cpu()

    def _lose_shm(self) -> None:
        """Something in SHM_DIR survived emptying: replace the tmpfs. Landlock's rule named the old
        one, so programs of this worker can no longer write there (fail closed, never shared)."""
        libc.umount(SHM_DIR, libc.MNT_DETACH)
        isolation.cover(SHM_DIR, 1, 0)
        self.private_shm = False

    def finish_job(self) -> None:
        """Without a per-program tmpfs, empty the shared working directory by hand."""
        if not self.mount_ns and os.listdir(self.job_dir):
            _remove_tree(self.job_dir)

    def template_setup(self, ctrl_fd: int) -> None:
        """In the template process, once: subreaper of every program's tree (see treekill), the fd
        layout every program's process starts from (0 = /dev/null, 4 = Landlock ruleset, CTRL_FD =
        the template's socket, nothing else open), and an OOM score of 0 (the worker keeps -1000,
        so the OOM killer picks the program)."""
        libc.prctl(libc.PR_SET_CHILD_SUBREAPER, 1)
        if self.cgroup is not None:
            _write_file("/proc/self/oom_score_adj", "0")
        os.dup2(ctrl_fd, CTRL_FD)
        if self.ruleset_fd is not None:
            os.dup2(self.ruleset_fd, RULESET_FD)
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, RULESET_FD)
        os.closerange(CTRL_FD + 1, 1 << 20)

    def enter(self, limits: Limits, parent_pid: int) -> None:
        """In the program's process, before its code runs: drop every privilege. The template put
        stdout/stderr/request socket on fds 1-3 before forking, so this is a few syscalls: each page
        Python touches after fork is a copy-on-write fault."""
        os.setsid()
        os.close(CTRL_FD)
        os.chdir(self.job_dir)
        _apply_rlimits(limits, nproc=self.uid is not None)
        if self.uid is not None:
            os.setgroups([])
            os.setresgid(self.uid, self.uid, self.uid)
            os.setresuid(self.uid, self.uid, self.uid)
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(SANDBOX_SETUP_FAILED)
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        if self.ruleset_fd is not None:
            landlock.restrict_self(RULESET_FD)
            os.close(RULESET_FD)
        if self._seccomp is not None:
            self._seccomp.install()

    # ----- after each program ----------------------------------------------------------------
    def kill_leftovers(self) -> bool:
        """Kill every process the program left behind; True when the tree is known to be gone:
        the worker's cgroup where there is one, and the template's children in any case."""
        gone = self.cgroup.kill_all() if self.cgroup is not None else True
        if self.template_pid is not None:
            gone = treekill.kill_children(self.template_pid) and gone
        return gone


def _apply_rlimits(limits: Limits, nproc: bool) -> None:
    mib = 1024 * 1024
    cpu = int(-(-limits.timeout_s // 1)) + 1  # a backstop: the worker stops it at exactly timeout_s
    settings = [
        (resource.RLIMIT_AS, limits.memory_mb * mib),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, limits.file_size_mb * mib),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
    ]
    if nproc:
        settings.append((resource.RLIMIT_NPROC, limits.max_processes))
    for which, value in settings:
        resource.setrlimit(which, (value, value + 1 if which == resource.RLIMIT_CPU else value))


def _write_file(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
