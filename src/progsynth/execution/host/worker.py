"""A pool worker: a small, long-lived, trusted process forked from the pool process. For each job its
template (see ``template``) forks the program's process, which enters the sandbox; the worker
supervises it from outside: CPU and wall-clock limits, output caps, and the kill of its whole
process tree. It never sees the tests.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from progsynth.execution import protocol
from progsynth.execution.api import Limits
from progsynth.execution.host.template import Template
from progsynth.execution.judging import child
from progsynth.execution.protocol import ExitReason, Msg
from progsynth.execution.sandbox import report
from progsynth.execution.sandbox.plan import SANDBOX_SETUP_FAILED, WorkerSandbox
from progsynth.execution.sandbox.protections import to_wire

_CLK_TCK = os.sysconf("SC_CLK_TCK")
#: CPU checks come when the limit could first be reached (the tree cannot use more than every core
#: at once), so a loop is stopped within a few ms of its limit with a handful of checks; adaptive
#: limits make loops stop at 0.25 s, where the old fixed 50 ms step overshot by ~10%
_CORES = max(len(os.sched_getaffinity(0)), 1)
_MIN_CPU_CHECK_S = 0.005

#: A program whose tree reached its memory limit during the job is charged with memory, whatever its
#: CPU or wall clock says by the time it is stopped: on a loaded machine the reclaim and page faults
#: of a program filling its memory can pass the CPU limit first, and the verdict must not depend on
#: the load. Programs that ended by themselves or that the judge finished keep their reason.
_MEMORY_FIRST = frozenset({ExitReason.CPU_TIMEOUT, ExitReason.WALL_TIMEOUT, ExitReason.SIGNAL})


@dataclass
class Capture:
    """A pipe drained continuously (so the program never blocks on it), keeping the first bytes."""

    fd: int
    cap: int
    data: bytearray
    dropped: int = 0

    def read(self) -> bool:
        """Read what is there; False at end of stream or when nothing is waiting."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            return False
        room = max(self.cap - len(self.data), 0)
        self.data += chunk[:room]
        self.dropped += len(chunk) - min(room, len(chunk))
        return True

    def text(self) -> str:
        suffix = f"\n[... {self.dropped} more bytes dropped]" if self.dropped else ""
        return self.data.decode("utf-8", "replace") + suffix


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except OSError:
        pass


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class Worker:
    """The worker's loop: one job at a time, each in a fresh program process from its template."""

    def __init__(self, sock: socket.socket, sandbox: WorkerSandbox) -> None:
        self.sock = sock
        self.sandbox = sandbox
        self._memory_seen = 0
        self._memory_fd: int | None = None

    def serve(self) -> NoReturn:
        """Set the sandbox up, report it (HELLO), then run jobs until the caller goes away."""
        self.sandbox.setup()
        protections = to_wire(report.build(self.sandbox))
        self.template = Template(self.sandbox)
        self.sandbox.exempt(self.template.pid)
        self._memory_seen = self._memory_hits()
        protocol.send(self.sock, {"op": Msg.HELLO, "pid": os.getpid(), "protections": protections})
        while True:
            try:
                msg, fds = protocol.recv(self.sock)
            except (protocol.PeerGone, OSError):
                os._exit(0)
            if msg.get("op") == Msg.JOB and len(fds) == 1:
                final = self.run_job(msg, fds[0])
                try:
                    protocol.send(self.sock, final)
                except OSError:
                    os._exit(0)
            else:
                for fd in fds:
                    os.close(fd)
            if msg.get("op") == Msg.EXIT:
                os._exit(0)

    def run_job(self, msg: dict[str, Any], rpc_fd: int) -> dict[str, Any]:
        """One program, start to FINAL; ``rpc_fd`` is the program's end of the judge's socket."""
        limits = Limits(**msg["limits"])
        self.sandbox.prepare_job(limits)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        start = time.monotonic()
        try:
            pid = self.template.fork(msg, (out_w, err_w, rpc_fd))
        except (OSError, protocol.PeerGone, protocol.ProtocolError):
            raise SystemExit(1) from None  # no template, no worker: the pool starts a new one
        finally:
            for fd in (rpc_fd, out_w, err_w):
                os.close(fd)
        outs = (Capture(out_r, limits.output_bytes, bytearray()), Capture(err_r, limits.output_bytes, bytearray()))
        try:  # a pidfd names this very process: no signal can hit a recycled pid
            pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone (and reaped by the template)
            pidfd = None
        try:
            reason = self._supervise(pid, pidfd, msg["id"], limits, start, outs) if pidfd is not None else None
        except SystemExit:  # the pool went away: leave nothing behind
            self._finish(pid, pidfd, msg["id"], ExitReason.DONE, limits, start, outs)
            raise
        return self._finish(pid, pidfd, msg["id"], reason, limits, start, outs)

    def _cpu(self, pid: int) -> float:
        cg = self.sandbox.cgroup
        return cg.cpu_seconds() if cg is not None else _proc_cpu(pid)

    def _supervise(self, pid: int, pidfd: int, job_id: int, limits: Limits, start: float,
                   outs: tuple[Capture, Capture]) -> ExitReason | None:
        """Wait for the program to end, the judge to finish, or a limit; None = it ended itself."""
        poller = select.poll()
        for fd in (pidfd, self.sock.fileno(), *(c.fd for c in outs)):
            poller.register(fd, select.POLLIN)
        by_fd = {c.fd: c for c in outs}
        next_cpu_check = start + limits.timeout_s / _CORES
        while True:
            wait = min(start + limits.wall_limit, next_cpu_check) - time.monotonic()
            ready = {fd for fd, _ in poller.poll(max(wait, 0) * 1000)}
            if pidfd in ready:
                return None
            for fd in ready & by_fd.keys():
                if not by_fd[fd].read():
                    poller.unregister(fd)
            if self.sock.fileno() in ready:
                done = self._judge_done(job_id)
                if done is not None:
                    # a judge that saw the program vanish waits for it to be reaped
                    died = select.select([pidfd], [], [], 2.0 if done else 0)[0]
                    return None if died else ExitReason.DONE
            now = time.monotonic()
            if now >= start + limits.wall_limit:
                return ExitReason.WALL_TIMEOUT
            if now >= next_cpu_check:
                used = self._cpu(pid)
                if used >= limits.timeout_s:
                    return ExitReason.CPU_TIMEOUT
                # the tree cannot use CPU faster than every core at once: no need to look sooner
                next_cpu_check = now + max((limits.timeout_s - used) / _CORES, _MIN_CPU_CHECK_S)

    def _judge_done(self, job_id: int) -> bool | None:
        """None unless the judge is done with this job; then whether it saw the program vanish."""
        try:
            msg = protocol.recv_obj(self.sock)
        except (protocol.PeerGone, OSError):
            raise SystemExit(0) from None
        if msg.get("op") == Msg.EXIT:
            raise SystemExit(0)
        if msg.get("op") == Msg.DONE and msg.get("id") == job_id:
            return bool(msg.get("gone"))
        return None

    def _finish(self, pid: int, pidfd: int | None, job_id: int, reason: ExitReason | None, limits: Limits,
                start: float, outs: tuple[Capture, Capture]) -> dict[str, Any]:
        cpu_tree = self._cpu(pid)
        if pidfd is not None:
            if reason is not None:  # None: its pidfd said it has exited, there is nothing to kill
                _quietly(lambda: signal.pidfd_send_signal(pidfd, signal.SIGKILL))
            os.close(pidfd)
        try:
            status, cpu_own = self.template.reaped()
        except (OSError, protocol.PeerGone, protocol.ProtocolError):
            raise SystemExit(1) from None
        wall = time.monotonic() - start
        clean = self.sandbox.kill_leftovers()
        for c in outs:
            os.set_blocking(c.fd, False)
            while c.read():
                pass
            os.close(c.fd)
        cpu = max(cpu_own, cpu_tree)
        reason = reason or self._classify(status, cpu, limits)
        hits, self._memory_seen = self._memory_seen, self._memory_hits()
        if reason in _MEMORY_FIRST and self._memory_seen > hits:
            reason = ExitReason.MEMORY
        self.sandbox.finish_job()
        return {"op": Msg.FINAL, "id": job_id, "reason": reason, "cpu": cpu, "wall": wall,
                "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                "stdout": outs[0].text(), "stderr": outs[1].text(), "clean": clean}

    def _memory_hits(self) -> int:
        """How often the program tree's memory limit has been reached so far (compared before and
        after a job; one file read). cgroup v1: ``memory.failcnt`` (every charge refused at the
        limit, which precedes any OOM kill); v2: ``memory.events`` max + oom_kill. 0 without one."""
        cg = self.sandbox.cgroup
        if cg is None:
            return 0
        try:
            if self._memory_fd is None:  # opened once: each job then costs one pread, not eight calls
                path = (os.path.join(cg.dirs["memory"], "memory.failcnt") if cg.version == 1
                        else os.path.join(cg.dirs[""], "memory.events"))
                self._memory_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            text = os.pread(self._memory_fd, 4096, 0)
            if cg.version == 1:
                return int(text)
            events = dict(line.split() for line in text.splitlines())
            return int(events.get(b"max", 0)) + int(events.get(b"oom_kill", 0))
        except (OSError, KeyError, ValueError):
            return 0

    def _classify(self, status: int, cpu: float, limits: Limits) -> ExitReason:
        """How a process that ended without being stopped for a limit ended (memory: see ``_finish``)."""
        if os.WIFEXITED(status):
            code = os.WEXITSTATUS(status)
            return ExitReason.SANDBOX_FAILED if code == SANDBOX_SETUP_FAILED else ExitReason.EXITED
        if os.WTERMSIG(status) in (signal.SIGKILL, signal.SIGXCPU) and cpu >= limits.timeout_s * 0.9:
            return ExitReason.CPU_TIMEOUT
        return ExitReason.SIGNAL


def main(sock: socket.socket, sandbox: WorkerSandbox) -> NoReturn:
    """Entry point in the freshly forked worker process."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the pool process ignores it; wait4 needs it
    child.harden_runner()
    try:
        Worker(sock, sandbox).serve()
    except SystemExit:
        os._exit(0)
