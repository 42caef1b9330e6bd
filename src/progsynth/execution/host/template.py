"""The template: a copy of the worker that only forks program processes and waits for them.

Why a process of its own: after fork, parent and child share every page copy-on-write. Each page
the supervising worker wrote while a program ran (polling, reading output, parsing the judge's
messages) cost a page copy, about a millisecond per program in all. The template does nothing
between fork and wait4 but send one short message, so the copying stops; the worker supervises
from outside, through a pidfd.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any, NoReturn

from progsynth.execution import protocol
from progsynth.execution.api import Limits
from progsynth.execution.judging import child
from progsynth.execution.sandbox import libc, treekill
from progsynth.execution.sandbox.plan import CTRL_FD, SANDBOX_SETUP_FAILED, WorkerSandbox


class Template:
    """The worker's handle on its template process."""

    def __init__(self, sandbox: WorkerSandbox) -> None:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _serve(theirs, sandbox)
        theirs.close()
        self.sock = ours
        self.pid = pid

    def fork(self, msg: dict[str, Any], fds: tuple[int, int, int]) -> int:
        """Start the program's process; returns its pid (fds: stdout, stderr, request socket)."""
        protocol.send(self.sock, msg, fds)
        reply = protocol.recv_obj(self.sock)
        return int(reply["pid"])

    def reaped(self) -> tuple[int, float]:
        """After the program's process ended: its wait status and CPU seconds (rusage)."""
        reply = protocol.recv_obj(self.sock)
        return int(reply["status"]), float(reply["cpu"])


def _serve(sock: socket.socket, sandbox: WorkerSandbox) -> NoReturn:
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the worker
    sandbox.template_setup(sock.fileno())
    sock = socket.socket(fileno=CTRL_FD)
    me = os.getpid()
    while True:
        try:
            msg, fds = protocol.recv(sock)
        except (protocol.PeerGone, protocol.ProtocolError, OSError):
            os._exit(0)
        limits = Limits(**msg["limits"])
        treekill.reap_all()  # what the worker killed after the last program (we adopted it)
        _place(fds)  # the program's stdout, stderr and request socket become fds 1, 2, 3
        pid = libc.fork_raw()  # this process has one thread; see fork_raw
        if pid == 0:
            _program(sandbox, msg, limits, me)
        _place(())
        protocol.send(sock, {"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        protocol.send(sock, {"status": status, "cpu": usage.ru_utime + usage.ru_stime})


def _place(fds: list[int] | tuple[()]) -> None:
    """Put ``fds`` on 1, 2, 3 (closing the originals), or with none, back to /dev/null and closed."""
    if fds:
        for target, fd in zip((1, 2, 3), fds, strict=True):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 3:
                os.close(fd)
        return
    os.dup2(0, 1)
    os.dup2(0, 2)
    os.close(3)


def _program(sandbox: WorkerSandbox, msg: dict[str, Any], limits: Limits, parent: int) -> NoReturn:
    """The program's process. It never returns or unwinds into the template's (or the worker's,
    or the pool process's) frames, whatever the program does: every path ends in os._exit."""
    status = SANDBOX_SETUP_FAILED
    try:
        sandbox.enter(limits, parent)
        if "random" in sys.modules:  # what Python's own after-fork hook would have done
            sys.modules["random"].seed()
        status = 0
        program = child.Source(msg["program"], msg.get("code"))
        setup = child.Source(msg.get("setup", ""), msg.get("setup_code"))
        child.run(program, setup, socket.socket(fileno=3))
    except BaseException as exc:  # noqa: BLE001
        if status == SANDBOX_SETUP_FAILED:  # never run the program half-sandboxed
            os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
    finally:
        os._exit(status)
