"""The judge's side of the boundary: tests run here, in the trusted process, with pristine builtins;
names the program defines resolve to values fetched from the sandbox or to ``RemoteRef`` handles.

A ``RemoteRef`` stands for an object only the program's process holds (a function, a class, a
tree node). Calling it, reading its attributes, iterating it or asking its length is delegated to
the program. What is never delegated: comparing it with, doing arithmetic with, or testing
membership of a value that came from the test. Such an operation gets Python's answer for two
unrelated objects (``==`` is False, ``<`` and ``+`` raise TypeError), so an object whose
``__eq__`` always returns True cannot pass, and the program never receives an expected value.
"""

from __future__ import annotations

import builtins
import collections
import importlib
import socket
from typing import Any

from progsynth.execution import protocol
from progsynth.execution.judging.encoding import SAFE_MODULES, Decoder, Encoder, Unencodable
from progsynth.execution.protocol import Reply, Req

#: the largest reply the judge decodes; a bigger one is treated as a misbehaving program (it would
#: otherwise be a memory bomb aimed at the trusted process)
MAX_REPLY = 64 * 1024 * 1024


class ChildGone(BaseException):
    """The program's process stopped answering (exited, killed, or spoke garbage). A BaseException
    so a test's own ``except Exception`` cannot swallow it."""


class Unsupported(BaseException):
    """The test needs to send something that has no plain-data form (a lambda, say)."""


class RemoteError(Exception):
    """An exception of a type only the program defines, raised inside the program."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def rebuild_exception(type_name: str, module: str, message: str) -> BaseException:
    """A builtin exception type is rebuilt as itself (tests may catch ValueError); others wrap."""
    cls = getattr(builtins, type_name, None) if module == "builtins" else None
    if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in (ChildGone, Unsupported):
        try:
            return cls(message) if message else cls()
        except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
            pass
    return RemoteError(type_name, message)


def _pristine_module(name: str) -> Any:
    if name not in SAFE_MODULES:
        raise ValueError(f"module {name!r} is not on the allowlist")
    return importlib.import_module(name)


class Channel:
    """The judge's end of one program's request socket."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self.sock = sock
        self.sock.settimeout(timeout_s)
        self.decoder = Decoder(self._remote, _pristine_module)
        self.encoder = Encoder(self._wire)
        self.opaque_comparisons = 0
        self.dead = False

    def _remote(self, body: list[Any]) -> RemoteRef:
        if not body or type(body[0]) is not int:
            raise ValueError("malformed handle")
        name = body[1] if len(body) > 1 and type(body[1]) is str else "object"
        return RemoteRef(self, body[0], name)

    def _wire(self, value: Any) -> list[Any]:
        if isinstance(value, RemoteRef) and value._channel is self:
            return ["H", value._id]
        raise Unsupported(f"cannot send a {type(value).__name__} to the program")

    def encode(self, value: Any) -> Any:
        try:
            return self.encoder.encode(value)
        except Unencodable as exc:
            raise Unsupported(str(exc)) from None

    def receive(self) -> Any:
        """The next message; any failure of the program's process marks the channel dead."""
        if self.dead:
            raise ChildGone("the program's process is gone")
        try:
            return protocol.recv_obj(self.sock, max_size=MAX_REPLY)
        except (protocol.PeerGone, protocol.ProtocolError, OSError) as exc:
            self.dead = True
            raise ChildGone(str(exc)) from None

    def request(self, *message: Any) -> list[Any]:
        """Send a request; the decoded reply fields, or the program's exception raised here."""
        if self.dead:
            raise ChildGone("the program's process is gone")
        try:
            protocol.send(self.sock, list(message))
        except OSError as exc:
            self.dead = True
            raise ChildGone(str(exc)) from None
        reply = self.receive()
        if type(reply) is list and reply and reply[0] == Reply.RAISED and len(reply) == 4:
            raise rebuild_exception(str(reply[1]), str(reply[2]), str(reply[3]))
        if type(reply) is not list or not reply or reply[0] != Reply.VALUE:
            self.dead = True
            raise ChildGone("malformed reply from the program")
        try:
            return [self.decoder.decode(x) if i == 0 else x for i, x in enumerate(reply[1:])]
        except (ValueError, TypeError, RecursionError, KeyError, IndexError) as exc:
            self.dead = True
            raise ChildGone(f"malformed value from the program: {exc}") from None

    def value(self, *message: Any) -> Any:
        return self.request(*message)[0]

    def call(self, target: RemoteRef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call the program's function; arguments it mutated in place are mirrored here."""
        raw_args = [self.encode(a) for a in args]
        raw_kwargs = [[k, self.encode(v)] for k, v in kwargs.items()]
        result, changed = self.request(Req.CALL, ["H", target._id], raw_args, raw_kwargs)
        for index, after in changed if type(changed) is list else []:
            if type(index) is int and 0 <= index < len(args):
                _write_back(args[index], self._decode_or_gone(after))
        return result

    def _decode_or_gone(self, data: Any) -> Any:
        try:
            return self.decoder.decode(data)
        except (ValueError, TypeError, RecursionError, KeyError, IndexError) as exc:
            raise ChildGone(f"malformed value from the program: {exc}") from None


def _write_back(original: Any, after: Any) -> None:
    """The program mutated an argument in place; mirror that on the judge's copy."""
    if type(after) is not type(original):
        return
    if isinstance(original, list | bytearray):
        original[:] = after
    elif isinstance(original, dict | set):
        original.clear()
        original.update(after)
    elif isinstance(original, collections.deque):
        original.clear()
        original.extend(after)


def _both(method: str, reflected: bool = False) -> Any:
    """An operator delegated only when both operands are the program's objects (``reflected``:
    the ``__radd__`` kind, whose operands reach the program in the other order)."""

    def op(self: RemoteRef, other: Any) -> Any:
        if isinstance(other, RemoteRef) and other._channel is self._channel:
            left, right = (other, self) if reflected else (self, other)
            return self._channel.value(Req.BINOP, method, ["H", left._id], ["H", right._id])
        self._channel.opaque_comparisons += 1
        return NotImplemented

    return op


def _unary(name: str) -> Any:
    def op(self: RemoteRef) -> Any:
        return self._channel.value(Req.UNARY, name, ["H", self._id])

    return op


class RemoteRef:
    """An object that lives in the program's process (see the module docstring for the rules)."""

    __slots__ = ("_channel", "_id", "_type_name")

    def __init__(self, channel: Channel, handle: int, type_name: str) -> None:
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_type_name", type_name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._channel.call(self, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._channel.value(Req.GETATTR, ["H", self._id], name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._channel.value(Req.SETATTR, ["H", self._id], name, self._channel.encode(value))

    def __getitem__(self, key: Any) -> Any:
        return self._channel.value(Req.GETITEM, ["H", self._id], self._channel.encode(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._channel.value(Req.SETITEM, ["H", self._id], self._channel.encode(key), self._channel.encode(value))

    def __contains__(self, item: Any) -> bool:
        if isinstance(item, RemoteRef) and item._channel is self._channel:
            return bool(self._channel.value(Req.BINOP, "contains", ["H", self._id], ["H", item._id]))
        self._channel.opaque_comparisons += 1
        raise TypeError(f"membership of a test value in a program-defined {self._type_name} is not judged")

    def __iter__(self) -> Any:
        iterator = self._channel.value(Req.UNARY, "iter", ["H", self._id])
        if not isinstance(iterator, RemoteRef):
            return iter(iterator)
        return _RemoteIterator(iterator)

    def __format__(self, spec: str) -> str:
        return str(self._channel.value(Req.FORMAT, ["H", self._id], spec))

    def __hash__(self) -> int:
        return hash((id(self._channel), self._id))

    def __repr__(self) -> str:
        if self._channel.dead:
            return f"<{self._type_name} object in the program>"
        return str(_unary("repr")(self))

    __bool__ = _unary("bool")
    __len__ = _unary("len")
    __str__ = _unary("str")
    __next__ = _unary("next")
    __neg__ = _unary("neg")
    __pos__ = _unary("pos")
    __abs__ = _unary("abs")
    __invert__ = _unary("invert")
    __int__ = _unary("int")
    __float__ = _unary("float")
    __index__ = _unary("index")
    __complex__ = _unary("complex")
    __reversed__ = _unary("reversed")
    __eq__ = _both("eq")
    __ne__ = _both("ne")
    __lt__ = _both("lt")
    __le__ = _both("le")
    __gt__ = _both("gt")
    __ge__ = _both("ge")


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and", "or",
              "xor", "matmul"):
    _op = _name + "_" if _name in ("and", "or") else _name
    setattr(RemoteRef, f"__{_name}__", _both(_op))
    setattr(RemoteRef, f"__r{_name}__", _both(_op, reflected=True))


class _RemoteIterator:
    def __init__(self, ref: RemoteRef) -> None:
        self.ref = ref

    def __iter__(self) -> _RemoteIterator:
        return self

    def __next__(self) -> Any:
        return self.ref._channel.value(Req.UNARY, "next", ["H", self.ref._id])


class TestNamespace(dict[str, Any]):
    """Globals for tests: assignments stay here; a missing name is looked up in the program unless
    it is a builtin the program did not redefine (those stay pristine, whatever the program did)."""

    def __init__(self, channel: Channel, names: dict[str, Any], shadowed: list[str]) -> None:
        super().__init__()
        self._channel = channel
        self._names = names
        self._shadowed = set(shadowed)

    def __missing__(self, name: str) -> Any:
        known = self._names.get(name)
        if known is not None:
            value = self._channel._decode_or_gone(known)
            self[name] = value
            return value
        if hasattr(builtins, name) and name not in self._shadowed:
            raise KeyError(name)
        try:
            return self._channel.value(Req.GLOBAL, name)
        except NameError:
            raise KeyError(name) from None
