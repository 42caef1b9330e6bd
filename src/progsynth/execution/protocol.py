"""Length-prefixed JSON messages over unix stream sockets, with optional file descriptors attached.

JSON (not pickle) on every channel: a message from a sandboxed program can at worst be malformed,
never make the reader run code. Readers cap message sizes and raise ``ProtocolError``.
"""

from __future__ import annotations

import array
import json
import os
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!I")
MAX_MESSAGE = 512 * 1024 * 1024


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
