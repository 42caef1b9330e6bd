"""Length-prefixed JSON messages over unix stream sockets, with optional file descriptors attached,
and the names every message kind and exit reason goes by.

JSON (not pickle) on every channel: a message from a sandboxed program can at worst be malformed,
never make the reader run code. Readers cap message sizes and raise ``ProtocolError``.

All three process roles speak this module (the caller, the pool process and its workers, the
program's process), so it lives beside ``api`` rather than in one role's subpackage, and imports
nothing from progsynth. The enums are ``StrEnum``s: a member goes on the wire as its plain string
(the bytes are the same as with literals) and a received string compares equal to its member.
"""

from __future__ import annotations

import array
import enum
import json
import os
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 512 * 1024 * 1024


class Msg(enum.StrEnum):
    """The ``op`` of a control message (caller <-> pool process <-> worker)."""

    SPAWN = "spawn"  # caller -> pool process: fork a worker for a slot
    SPAWNED = "spawned"  # pool process -> caller: its pid, with the worker's socket attached
    READY = "ready"  # pool process -> caller: configured; the cgroups to remove if it dies
    EXIT = "exit"  # caller -> pool process or worker: stop
    HELLO = "hello"  # worker -> caller: started; the protections it set up
    JOB = "job"  # caller -> worker (-> template): run a program
    DONE = "done"  # caller -> worker: the judge has what it needs
    FINAL = "final"  # worker -> caller: how the program's process ended


class Req(enum.StrEnum):
    """The first element of the judge's requests to the program's process."""

    CALL = "call"
    GLOBAL = "global"
    DIRECT = "direct"  # run a test statement inside the sandbox (no plain-data form)
    EVAL = "eval"  # evaluate a program side of a test (``judging.split``) with the judge's bindings
    UNARY = "unary"
    BINOP = "binop"
    GETATTR = "getattr"
    SETATTR = "setattr"
    GETITEM = "getitem"
    SETITEM = "setitem"
    FORMAT = "format"


class Reply(enum.StrEnum):
    """The first element of the program's process's replies."""

    VALUE = "V"
    RAISED = "X"  # [RAISED, type name, module, message, class]: how an exception crosses (never pickled)


class ExitReason(enum.StrEnum):
    """Why the worker stopped a program's process; recorded as ``verdict.details["exit_reason"]``."""

    DONE = "done"  # the judge had what it needed and the worker stopped the program
    EXITED = "exited"  # the program's process ended by itself
    CPU_TIMEOUT = "cpu_timeout"
    WALL_TIMEOUT = "wall_timeout"
    MEMORY = "memory"  # the tree-wide memory limit killed it
    SIGNAL = "signal"  # killed by a signal nobody here sent (a crash, its own kill)
    SANDBOX_FAILED = "sandbox_failed"  # could not enter the sandbox; no program code ran


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


class PeerGone(Exception):
    """The peer closed its end (it exited, crashed or was killed)."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(obj: Any) -> bytes:
    """Uses the C encoder directly: JSONEncoder.encode() starts with a Python-level isinstance()
    that a program could have patched in its own process."""
    text = "".join(_ENCODER.iterencode(obj, _one_shot=True))
    data = text.encode("utf-8", "surrogatepass")
    return _HEADER.pack(len(data)) + data


def send(sock: socket.socket, obj: Any, fds: tuple[int, ...] = ()) -> None:
    data = encode(obj)
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([data], anc)
        data = data[sent:]
    if data:
        sock.sendall(data)


def _recv_exact(sock: socket.socket, n: int, fds: list[int]) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk, anc, _flags, _addr = sock.recvmsg(min(n - len(buf), 1 << 20), socket.CMSG_SPACE(16))
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                ints = array.array("i")
                ints.frombytes(payload[: len(payload) - len(payload) % ints.itemsize])
                fds.extend(ints)
        if not chunk:
            raise PeerGone("peer closed the connection")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket, max_size: int = MAX_MESSAGE) -> tuple[Any, list[int]]:
    """One message and the descriptors that came with it; raises PeerGone at end of stream."""
    fds: list[int] = []
    try:
        (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, fds))
        if size > max_size:
            raise ProtocolError(f"message of {size} bytes exceeds the {max_size}-byte limit")
        body = _recv_exact(sock, size, fds)
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise PeerGone(str(exc)) from None
    try:
        return json.loads(body.decode("utf-8", "surrogatepass")), fds
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed message: {exc}") from None


def recv_obj(sock: socket.socket, max_size: int = MAX_MESSAGE) -> Any:
    """A message that must carry no descriptors (any that arrive are closed)."""
    obj, fds = recv(sock, max_size)
    for fd in fds:
        os.close(fd)
    return obj
