"""Values crossing the sandbox boundary as tagged JSON built only from exact, behaviour-free types.

The program's process encodes its outputs; the judge decodes them into pristine builtin values
(int, str, list, dict, Counter, Decimal...). A subclass is reduced to its base value through the
base class's own methods, so an overridden ``__eq__`` never travels: the judge compares data.
Safe builtins (``int``, ``len``...) and allowlisted stdlib modules cross by name. Anything else
(functions, program-defined objects) becomes an opaque handle the judge can only pass back or ask
the program about. Decoding never runs code, never imports a module outside ``SAFE_MODULES`` and
never yields a builtin outside ``SAFE_BUILTINS``.
"""

from __future__ import annotations

import builtins
import collections
import datetime
import sys
import types
from collections.abc import Callable
from typing import Any

from progsynth.execution.protocol import Reply

INT64 = 1 << 63
MAX_DEPTH = 300
MAX_NODES = 4_000_000

#: stdlib modules the judge may substitute with its own pristine copy when a test names them
SAFE_MODULES = frozenset({
    "math", "cmath", "re", "string", "collections", "itertools", "functools", "heapq", "bisect",
    "operator", "statistics", "decimal", "fractions", "numbers", "typing", "copy", "datetime", "sys",
    "array", "unicodedata", "textwrap",
})
#: builtins that may cross as themselves (a test passing ``int`` as an argument, a program returning
#: ``str``); never code runners such as eval, exec, compile, open or __import__
SAFE_BUILTINS = frozenset({
    "int", "float", "str", "bool", "list", "tuple", "dict", "set", "frozenset", "bytes", "bytearray",
    "complex", "object", "type", "range", "slice", "len", "abs", "min", "max", "sum", "sorted",
    "reversed", "enumerate", "zip", "map", "filter", "any", "all", "round", "divmod", "pow", "ord", "chr",
    "repr", "format", "bin", "hex", "oct", "iter", "next", "callable", "isinstance", "issubclass", "hash",
    *(name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)),
})
_FACTORIES: dict[str, Any] = {"list": list, "int": int, "set": set, "dict": dict, "float": float,
                              "str": str, "tuple": tuple}


class Unencodable(Exception):
    """A value with no plain-data form, on a side that may not hand out handles."""


def _pairs(enc: Callable[[Any, int], Any], items: Any, depth: int) -> list[Any]:
    return [[enc(k, depth), enc(v, depth)] for k, v in items]


class Encoder:
    """Turns a value into tagged JSON; ``handle`` (or None: raise Unencodable) covers the rest."""

    def __init__(self, handle: Callable[[Any], Any] | None = None, max_nodes: int = MAX_NODES) -> None:
        self.handle = handle
        self.max_nodes = max_nodes
        self._nodes = 0
        self._active: set[int] = set()

    def encode(self, value: Any) -> Any:
        self._nodes = 0
        self._active.clear()
        return self._enc(value, 0)

    def _enc(self, v: Any, depth: int) -> Any:
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if t is int:
            return v if -INT64 <= v < INT64 else ["I", format(v, "x")]
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > self.max_nodes or id(v) in self._active:
            return self._opaque(v)
        self._active.add(id(v))
        try:
            return self._container(v, t, depth + 1)
        finally:
            self._active.discard(id(v))

    def _container(self, v: Any, t: type, d: int) -> Any:
        enc = self._enc
        if t is list:
            return ["L", *[enc(x, d) for x in v]]
        if t is tuple:
            return ["T", *[enc(x, d) for x in v]]
        if t is dict:
            return ["D", *_pairs(enc, v.items(), d)]
        if t is set or t is frozenset:
            return ["S" if t is set else "FS", *[enc(x, d) for x in v]]
        return self._other(v, d)

    def _other(self, v: Any, d: int) -> Any:  # noqa: C901 - one flat type switch reads best
        enc = self._enc
        if isinstance(v, int):
            return enc(int.__int__(v), d)
        if isinstance(v, float):
            return float.__float__(v)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, complex):
            return ["C", complex.real.__get__(v), complex.imag.__get__(v)]
        if isinstance(v, (bytes, bytearray)):
            if isinstance(v, bytearray):
                return ["BA", bytearray.hex(v)]
            return ["B", bytes.hex(v)]
        if isinstance(v, collections.Counter):
            return ["CT", *_pairs(enc, dict.items(v), d)]
        if isinstance(v, collections.OrderedDict):
            return ["OD", *_pairs(enc, dict.items(v), d)]
        if isinstance(v, collections.defaultdict):
            factory = v.default_factory
            name = factory.__name__ if factory is not None and factory in _FACTORIES.values() else None
            return ["DD", name, *_pairs(enc, dict.items(v), d)]
        if isinstance(v, dict):
            return ["D", *_pairs(enc, dict.items(v), d)]
        if isinstance(v, list):
            return ["L", *[enc(x, d) for x in list.__iter__(v)]]
        if isinstance(v, tuple):
            return ["T", *[enc(x, d) for x in tuple.__iter__(v)]]
        if isinstance(v, frozenset):
            return ["FS", *[enc(x, d) for x in frozenset.__iter__(v)]]
        if isinstance(v, set):
            return ["S", *[enc(x, d) for x in set.__iter__(v)]]
        if isinstance(v, collections.deque):
            return ["DQ", v.maxlen, *[enc(x, d) for x in collections.deque.__iter__(v)]]
        return self._scalar_like(v, d)

    def _scalar_like(self, v: Any, d: int) -> Any:
        # decimal/fractions/numpy values exist only if the module was imported: look, never import
        decimal, fractions = sys.modules.get("decimal"), sys.modules.get("fractions")
        if decimal is not None and isinstance(v, decimal.Decimal):
            return ["DEC", decimal.Decimal.__str__(v)]
        if fractions is not None and isinstance(v, fractions.Fraction):
            return ["FR", self._enc(fractions.Fraction.numerator.fget(v), d),
                    self._enc(fractions.Fraction.denominator.fget(v), d)]
        if type(v) is range:
            return ["R", v.start, v.stop, v.step] if all(type(x) is int for x in (v.start, v.stop, v.step)) \
                else self._opaque(v)
        if type(v) is slice:
            return ["SL", self._enc(v.start, d), self._enc(v.stop, d), self._enc(v.step, d)]
        if v is Ellipsis:
            return ["EL"]
        if isinstance(v, datetime.datetime | datetime.date | datetime.time | datetime.timedelta):
            return self._datetime(v)
        numpy = sys.modules.get("numpy")
        if numpy is not None and isinstance(v, numpy.generic) and not isinstance(v, numpy.void):
            return self._enc(v.item(), d)
        return self._opaque(v)

    def _datetime(self, v: Any) -> Any:
        if isinstance(v, datetime.timedelta):
            return ["TD", v.days, v.seconds, v.microseconds]
        if getattr(v, "tzinfo", None) is not None:
            return self._opaque(v)
        if isinstance(v, datetime.datetime):
            return ["DT", datetime.datetime.isoformat(v)]
        if isinstance(v, datetime.date):
            return ["DA", datetime.date.isoformat(v)]
        return ["TI", datetime.time.isoformat(v)]

    def _opaque(self, v: Any) -> Any:
        if isinstance(v, types.ModuleType) and getattr(v, "__name__", None) in SAFE_MODULES \
                and sys.modules.get(v.__name__) is v:
            return ["M", v.__name__]
        name = getattr(v, "__name__", None)
        if type(name) is str and name in SAFE_BUILTINS and getattr(builtins, name, None) is v:
            return ["G", name]
        if self.handle is None:
            raise Unencodable(type(v).__name__)
        return self.handle(v)


class Decoder:
    """Rebuilds values; ``on_handle`` turns ["H", ...] into an object, ``on_module`` names a module."""

    def __init__(self, on_handle: Callable[[list[Any]], Any], on_module: Callable[[str], Any]) -> None:
        self.on_handle = on_handle
        self.on_module = on_module
        self.builtins = builtins  # the judge's own, pristine; in the program's process, its own

    def decode(self, data: Any) -> Any:
        if type(data) is not list:
            return data
        tag = data[0]
        body = data[1:]
        dec = self.decode
        if tag == "L":
            return [dec(x) for x in body]
        if tag == "T":
            return tuple(dec(x) for x in body)
        if tag == "D":
            return {dec(k): dec(v) for k, v in body}
        if tag == "OD":
            return collections.OrderedDict((dec(k), dec(v)) for k, v in body)
        if tag == "CT":
            counter: collections.Counter[Any] = collections.Counter()
            dict.update(counter, ((dec(k), dec(v)) for k, v in body))  # Counter(pairs) would count them
            return counter
        if tag == "S":
            return {dec(x) for x in body}
        if tag == "FS":
            return frozenset(dec(x) for x in body)
        return self._rare(tag, body)

    def _rare(self, tag: str, body: list[Any]) -> Any:  # noqa: C901 - flat tag switch
        dec = self.decode
        if tag == "I":
            return int(_str(body[0]), 16)
        if tag == "H":
            return self.on_handle(body)
        if tag == "M":
            return self.on_module(_str(body[0]))
        if tag == "G":
            if _str(body[0]) not in SAFE_BUILTINS:
                raise ValueError(f"builtin {body[0]!r} may not cross the boundary")
            return getattr(self.builtins, body[0])
        if tag == "C":
            return complex(_num(body[0]), _num(body[1]))
        if tag in ("B", "BA"):
            raw = bytes.fromhex(_str(body[0]))
            return raw if tag == "B" else bytearray(raw)
        if tag == "DD":
            factory = _FACTORIES.get(body[0]) if body[0] is not None else None
            return collections.defaultdict(factory, ((dec(k), dec(v)) for k, v in body[1:]))
        if tag == "DQ":
            maxlen = body[0] if type(body[0]) is int else None
            return collections.deque((dec(x) for x in body[1:]), maxlen)
        if tag == "DEC":
            import decimal

            return decimal.Decimal(_str(body[0]))
        if tag == "FR":
            import fractions

            return fractions.Fraction(_int(dec(body[0])), _int(dec(body[1])))
        if tag == "R":
            return range(_int(body[0]), _int(body[1]), _int(body[2]))
        if tag == "SL":
            return slice(dec(body[0]), dec(body[1]), dec(body[2]))
        if tag == "EL":
            return Ellipsis
        return self._temporal(tag, body)

    def _temporal(self, tag: str, body: list[Any]) -> Any:
        if tag == "TD":
            return datetime.timedelta(_int(body[0]), _int(body[1]), _int(body[2]))
        if tag == "DT":
            return datetime.datetime.fromisoformat(_str(body[0]))
        if tag == "DA":
            return datetime.date.fromisoformat(_str(body[0]))
        if tag == "TI":
            return datetime.time.fromisoformat(_str(body[0]))
        raise ValueError(f"unknown value tag {tag!r}")


def _str(x: Any) -> str:
    if type(x) is not str:
        raise ValueError("expected a string in encoded value")
    return x


def _int(x: Any) -> int:
    if type(x) is not int:
        raise ValueError("expected an integer in encoded value")
    return x


def _num(x: Any) -> float:
    if type(x) not in (int, float):
        raise ValueError("expected a number in encoded value")
    return float(x)


def describe_exception(exc: BaseException) -> list[Any]:
    """[Reply.RAISED, type name, module, message]: how an exception crosses the boundary (never pickled)."""
    t = type(exc)
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break reporting
        message = "<unprintable>"
    return [Reply.RAISED, str(getattr(t, "__name__", "Exception")), str(getattr(t, "__module__", "")), message[:4000]]
