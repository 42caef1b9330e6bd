"""The caller's handles on the pool process and on each worker, and one job's round trip.

Messages per job: JOB (program, setup, limits, plus the program's end of a fresh request socket)
to the worker; READY and request/reply pairs directly with the program's process; DONE to the
worker; FINAL (how the process ended, CPU, wall time, output) back. Any failure of the worker
itself raises ``WorkerLost`` so the pool can replace it and run the job again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from progsynth.errors import ExecutionError
from progsynth.execution import protocol
from progsynth.execution.api import ExecRequest
from progsynth.execution.host.jobs import limits_fields
from progsynth.execution.host.zygote import BOOT
from progsynth.execution.judging import judge
from progsynth.execution.judging.remote import Channel
from progsynth.execution.protocol import Msg
from progsynth.execution.sandbox.config import SandboxConfig, hidden_paths, pool_sys_path, python_dirs
from progsynth.execution.sandbox.protections import ProtectionStatus, from_wire
from progsynth.verdicts import Verdict

_START_TIMEOUT_S = 120.0


class WorkerLost(Exception):
    """The worker process died or stopped answering; the job can be retried elsewhere."""


class PoolProcess:
    """The small dedicated process workers are forked from."""

    def __init__(self, sandbox: SandboxConfig, preload: tuple[str, ...] | None) -> None:
        ours, theirs = socket.socketpair()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        cmd = [sys.executable, "-E", "-s", "-B", "-c", BOOT, str(theirs.fileno()), json.dumps(pool_sys_path())]
        self.proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), env=env, cwd="/",
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.scratch = tempfile.mkdtemp(prefix="progsynth-sandbox-")
        sandbox = dataclasses.replace(sandbox, hidden=hidden_paths(sandbox.hidden))
        config: dict[str, Any] = {"sandbox": dataclasses.asdict(sandbox), "scratch": self.scratch,
                                  "python": list(python_dirs())}
        if preload is not None:
            config["preload"] = list(preload)
        self.sock.settimeout(_START_TIMEOUT_S)
        try:
            protocol.send(self.sock, config)
            self.ready = protocol.recv_obj(self.sock)
        except (OSError, protocol.PeerGone, protocol.ProtocolError) as exc:
            self.close()
            raise ExecutionError(f"the sandbox pool process failed to start: {exc}") from None
        self.pid = self.proc.pid

    def spawn(self, slot: int) -> WorkerConn:
        """A new worker for ``slot``; the lock keeps concurrent driver threads' requests apart."""
        with self.lock:
            try:
                protocol.send(self.sock, {"op": Msg.SPAWN, "slot": slot})
                msg, fds = protocol.recv(self.sock)
            except (OSError, protocol.PeerGone, protocol.ProtocolError) as exc:
                raise ExecutionError(f"the sandbox pool process is gone: {exc}") from None
        if len(fds) != 1:
            raise ExecutionError("the sandbox pool process sent no worker socket")
        return WorkerConn(socket.socket(fileno=fds[0]), int(msg["pid"]), slot)

    def close(self) -> None:
        try:
            protocol.send(self.sock, {"op": Msg.EXIT})
        except OSError:
            pass
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)  # normally the pool process did this
        _remove_groups(self.ready.get("groups", []) if isinstance(getattr(self, "ready", None), dict) else [])


def _remove_groups(groups: list[str]) -> None:
    """Normally the pool process removes its cgroups; if it was killed, its workers' empty groups
    are removed here once those workers have exited (best effort: a few short tries)."""
    for _ in range(20):
        left = [g for g in groups if os.path.isdir(g)]
        for group in left:
            for sub in os.listdir(group) if os.path.isdir(group) else []:
                path = os.path.join(group, sub)
                if os.path.isdir(path):
                    _rmdir(path)
            _rmdir(group)
        if not any(os.path.isdir(g) for g in groups):
            return
        time.sleep(0.05)


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


class WorkerConn:
    """The caller's end of one worker's socket; a driver thread uses it for one job at a time."""

    def __init__(self, sock: socket.socket, pid: int, slot: int) -> None:
        self.sock = sock
        self.pid = pid
        self.slot = slot
        self.sock.settimeout(_START_TIMEOUT_S)
        try:
            hello = protocol.recv_obj(self.sock)
        except (OSError, protocol.PeerGone, protocol.ProtocolError) as exc:
            self.close()
            raise WorkerLost(f"worker {slot} failed to start: {exc}") from None
        self.protections: dict[str, ProtectionStatus] = from_wire(hello["protections"])

    def _send(self, msg: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
        try:
            protocol.send(self.sock, msg, fds)
        except OSError as exc:
            raise WorkerLost(str(exc)) from None

    def final(self, job_id: int, timeout_s: float) -> dict[str, Any]:
        """The worker's report on ``job_id``; stale messages of an earlier, abandoned job are skipped."""
        self.sock.settimeout(timeout_s)
        while True:
            try:
                msg = protocol.recv_obj(self.sock)
            except (OSError, protocol.PeerGone, protocol.ProtocolError) as exc:
                raise WorkerLost(str(exc)) from None
            if msg.get("op") == Msg.FINAL and msg.get("id") == job_id:
                return dict(msg)

    def execute(self, request: ExecRequest, job_id: int, code: tuple[str | None, str | None] = (None, None),
                run_all: bool = False) -> Verdict:
        """Run one request on this worker; raises WorkerLost if the worker fails meanwhile.
        ``code``: the program and setup marshalled by ``jobs.compile_program`` (None: send source)."""
        limits = request.limits
        ours, theirs = socket.socketpair()
        try:
            self._send({"op": Msg.JOB, "id": job_id, "program": request.program, "setup": request.setup,
                        "code": code[0], "setup_code": code[1], "limits": limits_fields(limits)},
                       (theirs.fileno(),))
        finally:
            theirs.close()
        channel = Channel(ours, limits.wall_limit + 10.0)
        try:
            evaluation = judge.evaluate(channel, request.tests, run_all)
        finally:
            ours.close()
        self._send({"op": Msg.DONE, "id": job_id, "gone": channel.dead})
        final = self.final(job_id, limits.wall_limit + 60.0)
        return judge.assemble(evaluation, final)

    def close(self) -> None:
        """Also wakes a thread blocked reading this socket (it sees end of stream)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
