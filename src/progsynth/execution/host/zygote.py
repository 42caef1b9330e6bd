"""The pool process: a fresh, small interpreter (started with a clean environment, never forked from
the caller) that pre-imports what programs commonly need and forks workers on request. It holds no
tests, no model and no secrets, so every process forked from it starts clean.

Started as ``python -E -s -B -c BOOT <fd> <sys.path as JSON>``; speaks ``protocol`` on socket <fd>.
"""

from __future__ import annotations

import gc
import importlib
import os
import select
import shutil
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from progsynth.execution import protocol
from progsynth.execution.host import worker
from progsynth.execution.protocol import Msg
from progsynth.execution.sandbox import cgroups
from progsynth.execution.sandbox.config import SandboxConfig
from progsynth.execution.sandbox.plan import HostPlan, WorkerSandbox

BOOT = ("import sys, json; sys.path[:] = json.loads(sys.argv[2]); "
        "from progsynth.execution.host.zygote import main; main(int(sys.argv[1]))")

#: what MBPP/HumanEval-style programs import most; each extra module makes every fork dearer
DEFAULT_PRELOAD = (
    "math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq", "bisect",
    "operator", "typing", "copy", "random", "datetime", "array",
)


class Zygote:
    """The pool process's state: the plan every worker inherits and the live worker per slot."""

    def __init__(self, sock: socket.socket, plan: HostPlan) -> None:
        self.sock = sock
        self.plan = plan
        self.workers: dict[int, int] = {}  # slot -> pid

    def spawn(self, slot: int) -> None:
        """Fork a worker for ``slot`` (replacing any old one) and hand the caller its socket."""
        old = self.workers.pop(slot, None)
        if old is not None:
            _kill(old)
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            ours.close()
            worker.main(theirs, WorkerSandbox(self.plan, slot))
        theirs.close()
        self.workers[slot] = pid
        protocol.send(self.sock, {"op": Msg.SPAWNED, "slot": slot, "pid": pid}, fds=(ours.fileno(),))
        ours.close()

    def serve(self) -> None:
        """Answer the caller until it says EXIT or goes away."""
        while True:
            try:
                msg = protocol.recv_obj(self.sock)
            except (protocol.PeerGone, OSError):
                return
            op = msg.get("op")
            if op == Msg.SPAWN:
                self.spawn(int(msg["slot"]))
            elif op == Msg.EXIT:
                return

    def shutdown(self) -> None:
        """Kill the workers, wait until they are gone, then remove their groups and the scratch."""
        pidfds = []
        for pid in self.workers.values():
            try:
                pidfds.append(os.pidfd_open(pid))
            except OSError:
                continue
            _kill(pid)
        for fd in pidfds:
            select.select([fd], [], [], 5.0)
            os.close(fd)
        roots = self.plan.cgroup_roots
        if roots is not None:
            for slot in self.workers:
                try:
                    group = cgroups.WorkerCgroup(roots, f"{self.plan.pool_name}/w{slot}")
                    group.exempt = set()
                    group.kill_all()
                    for _ in range(50):  # a killed process leaves its group a moment later
                        group.remove()
                        if not any(os.path.isdir(d) for d in group.dirs.values()):
                            break
                        time.sleep(0.01)
                except OSError:
                    pass
            for d in roots.dirs.values():
                try:
                    os.rmdir(os.path.join(d, self.plan.pool_name))
                except OSError:
                    pass
        shutil.rmtree(self.plan.scratch, ignore_errors=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _preload(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs import time later
            pass


def main(fd: int) -> NoReturn:
    """Read the configuration, plan the sandbox, report, then fork workers until told to stop."""
    os.chdir("/")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    sock = socket.socket(fileno=fd)
    config: dict[str, Any] = protocol.recv_obj(sock)
    sandbox = config["sandbox"]
    for key in ("extra_readable", "hidden"):
        sandbox[key] = tuple(sandbox.get(key, ()))
    _preload(list(config.get("preload", DEFAULT_PRELOAD)))
    plan = HostPlan.create(SandboxConfig(**sandbox), config["scratch"], tuple(config["python"]))
    gc.collect()
    gc.freeze()  # keep the shared pages of forked workers shared
    zygote = Zygote(sock, plan)
    groups = [os.path.join(d, plan.pool_name) for d in plan.cgroup_roots.dirs.values()] if plan.cgroup_roots else []
    protocol.send(sock, {"op": Msg.READY, "pid": os.getpid(), "groups": groups})
    try:
        zygote.serve()
    finally:
        zygote.shutdown()
    sys.stdout.flush()
    os._exit(0)
