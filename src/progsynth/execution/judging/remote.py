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
from collections.abc import Callable
from typing import Any

from progsynth.execution import protocol
from progsynth.execution.judging.encoding import SAFE_MODULES, Decoder, Encoder, Unencodable
from progsynth.execution.judging.errors import program_class, rebuild_exception
from progsynth.execution.judging.split import Piece
from progsynth.execution.judging.split import program_names as split_program_names
from progsynth.execution.protocol import Reply, Req

#: the largest reply the judge decodes; a bigger one is treated as a misbehaving program (it would
#: otherwise be a memory bomb aimed at the trusted process)
MAX_REPLY = 64 * 1024 * 1024


class ChildGone(BaseException):
    """The program's process stopped answering (exited, killed, or spoke garbage). A BaseException
    so a test's own ``except Exception`` cannot swallow it."""


class Unsupported(BaseException):
    """The test needs to send something that has no plain-data form (a lambda, say)."""


def _pristine_module(name: str) -> Any:
    if name not in SAFE_MODULES:
        raise ValueError(f"module {name!r} is not on the allowlist")
    return importlib.import_module(name)


class Channel:
    """The judge's end of one program's request socket."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self.sock = sock
        self.sock.settimeout(timeout_s)
        self.decoder = Decoder(self._remote, _pristine_module, program_class, persistent=True)
        self.encoder = Encoder(self._wire)
        self.opaque_comparisons = 0
        self.dead = False
        self._refs: dict[int, RemoteRef] = {}

    def _remote(self, body: list[Any]) -> RemoteRef:
        """One ``RemoteRef`` per program object, so ``is`` between two of them tells the truth."""
        if not body or type(body[0]) is not int:
            raise ValueError("malformed handle")
        ref = self._refs.get(body[0])
        if ref is None:
            name = body[1] if len(body) > 1 and type(body[1]) is str else "object"
            ref = self._refs[body[0]] = RemoteRef(self, body[0], name)
        return ref

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

    def request(self, *message: Any, known: tuple[Any, ...] = ()) -> list[Any]:
        """Send a request; the decoded reply fields, or the program's exception raised here.
        ``known``: the objects the reply may refer back to (what the request sent)."""
        if self.dead:
            raise ChildGone("the program's process is gone")
        try:
            protocol.send(self.sock, list(message))
        except OSError as exc:
            self.dead = True
            raise ChildGone(str(exc)) from None
        reply = self.receive()
        if type(reply) is list and reply and reply[0] == Reply.RAISED and len(reply) in (4, 5):
            raise rebuild_exception(str(reply[1]), str(reply[2]), str(reply[3]), reply[4] if len(reply) == 5 else None)
        if type(reply) is not list or not reply or reply[0] != Reply.VALUE:
            self.dead = True
            raise ChildGone("malformed reply from the program")
        try:
            return [self.decoder.decode(x, known) if i == 0 else x for i, x in enumerate(reply[1:])]
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

    def remote_eval(self, pieces: tuple[Piece, ...], index: int, bindings: dict[str, Any],
                    local: Callable[[], Any] | None) -> Any:
        """A program side of a test (``judging.split``): evaluated in the program's process in one
        round trip, or here by ``local()`` when it needs no program (its callee turned out to be the
        test's own) or names a judge object with no plain-data form."""
        piece = pieces[index]
        if piece.guards and not all(isinstance(bindings.get(g), RemoteRef) for g in piece.guards):
            assert local is not None  # a piece with guards has bindings, hence a fallback
            return local()
        values = tuple(bindings[name] for name in piece.bindings)
        try:
            raw = self.encoder.encode(values)
        except (Unencodable, Unsupported):
            assert local is not None  # only bindings can fail to encode
            return local()
        result, changed = self.request(Req.EVAL, piece.source, raw, list(piece.bindings), known=values)
        for i, after in changed if type(changed) is list else []:
            if type(i) is int and 0 <= i < len(values):
                _write_back(values[i], self._decode_or_gone(after))
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


def truth(value: Any) -> Any:
    """What decides an ``assert``: plain data as it is; for a program object, ``bool(obj)`` as the
    program computes it (CPython asks the object too), accepted only as a real bool."""
    if isinstance(value, RemoteRef):
        answer = value._channel.value(Req.UNARY, "bool", ["H", value._id])
        if type(answer) is not bool:
            raise TypeError(f"__bool__ of a program-defined {value._type_name} returned {type(answer).__name__}")
        return answer
    return value


class TestNamespace(dict[str, Any]):
    """Globals for tests: assignments stay here; a missing name is looked up in the program unless
    it is a builtin the program did not redefine (those stay pristine, whatever the program did)."""

    def __init__(self, channel: Channel, names: dict[str, Any], shadowed: list[str]) -> None:
        super().__init__()
        self._channel = channel
        self._names = names
        self._shadowed = set(shadowed)
        self._fetched: set[str] = set()

    def program_names(self, used: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """Which of the names a test uses stand for the program's values (``split.program_names``)."""
        return split_program_names(used, self._names, self.bound)

    def bound(self, name: str) -> bool | None:
        """None if no test statement bound ``name``; else whether it holds a program object."""
        if name not in self or name in self._fetched:
            return None
        return isinstance(dict.__getitem__(self, name), RemoteRef)

    def __missing__(self, name: str) -> Any:
        known = self._names.get(name)
        if known is not None:
            value = self._channel._decode_or_gone(known)
            self[name] = value
            self._fetched.add(name)
            return value
        if hasattr(builtins, name) and name not in self._shadowed:
            raise KeyError(name)
        try:
            return self._channel.value(Req.GLOBAL, name)  # data: fetched on every use, it may change
        except NameError:
            raise KeyError(name) from None
