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
from collections.abc import Callable, Sequence
from typing import Any

INT64 = 1 << 63
MAX_DEPTH = 300
MAX_NODES = 4_000_000
#: how deep in a value containers keep their identity across crossings (``Encoder(persistent=True)``)
PERSISTENT_DEPTH = 4

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


#: tags of encodings that stand for one mutable or container object: a second occurrence of the
#: same object in one message becomes ["A", k] (the first is wrapped as ["N", k, ...]), so aliasing
#: (``[x, x]``, ``f(l, l)``) survives the crossing
_ALIASABLE = frozenset({"L", "T", "D", "S", "FS", "OD", "CT", "DD", "DQ", "BA"})


class Unencodable(Exception):
    """A value with no plain-data form, on a side that may not hand out handles."""


def _pairs(enc: Callable[[Any, int], Any], items: Any, depth: int) -> list[Any]:
    return [[enc(k, depth), enc(v, depth)] for k, v in items]


class Encoder:
    """Turns a value into tagged JSON; ``handle`` (or None: raise Unencodable) covers the rest.

    ``persistent`` (the program's side): each container and NaN keeps one number for the life of the
    process, sent as ["O", n, contents] (["NaN", n]), so the judge's copy of an object that crosses
    twice is one object too (``f() is f()``, ``[x] == [x]`` for a NaN ``x``, as in CPython)."""

    def __init__(self, handle: Callable[[Any], Any] | None = None, max_nodes: int = MAX_NODES,
                 persistent: bool = False) -> None:
        self.handle = handle
        self.max_nodes = max_nodes
        #: id -> [object (kept alive, so the id stays its own), number]
        self._registry: dict[int, list[Any]] | None = {} if persistent else None
        self._nodes = 0
        self._active: set[int] = set()
        self._seen: dict[int, list[Any]] = {}  # id -> [object, its encoding, alias number or None]
        self._known: dict[int, Any] = {}
        self._aliases = 0

    def encode(self, value: Any, known: dict[int, Any] | None = None) -> Any:
        """``known``: id of an object -> the encoding to use for it (the receiver's own objects)."""
        self._nodes = 0
        self._aliases = 0
        self._active.clear()
        self._seen.clear()
        self._known = known or {}
        try:
            return self._enc(value, 0)
        finally:
            self._seen.clear()

    def _enc(self, v: Any, depth: int) -> Any:
        t = type(v)
        if v is None or t is bool:
            return v
        key = id(v)
        if key in self._known:
            return self._known[key]
        if t is str:
            return v
        if t is float:
            return v if v == v else self._nan(v)
        if t is int:
            return v if -INT64 <= v < INT64 else ["I", format(v, "x")]
        seen = self._seen.get(key)
        if seen is not None and key not in self._active:
            return self._alias(seen)
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > self.max_nodes or key in self._active:
            return self._opaque(v)
        self._active.add(key)
        try:
            out = self._container(v, t, depth + 1)
        finally:
            self._active.discard(key)
        if type(out) is list and out and out[0] in _ALIASABLE:
            if self._registry is not None and depth <= PERSISTENT_DEPTH:
                out[:] = ["O", self._number(v), list(out)]
            self._seen[key] = [v, out, None]
        return out

    def _number(self, v: Any) -> int:
        assert self._registry is not None
        entry = self._registry.get(id(v))
        if entry is None:
            entry = self._registry[id(v)] = [v, len(self._registry)]
        return int(entry[1])

    def _nan(self, v: float) -> Any:
        """NaN compares unequal to itself, so which NaN object is which matters (``[x] == [x]``)."""
        if self._registry is not None:
            return ["NaN", self._number(v)]
        seen = self._seen.get(id(v))
        if seen is None:
            seen = self._seen[id(v)] = [v, None, len(self._seen)]
        return ["NaN", seen[2]]

    def _alias(self, seen: list[Any]) -> Any:
        if seen[2] is None:
            seen[2] = self._aliases
            self._aliases += 1
            first = seen[1]
            first[:] = ["N", seen[2], list(first)]
        return ["A", seen[2]]

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

    def __init__(self, on_handle: Callable[[list[Any]], Any], on_module: Callable[[str], Any],
                 on_class: Callable[[Any], Any] | None = None, persistent: bool = False) -> None:
        self.on_handle = on_handle
        self.on_module = on_module
        self.on_class = on_class
        self.builtins = builtins  # the judge's own, pristine; in the program's process, its own
        self._memo: dict[Any, Any] = {}
        #: the judge's copy of each numbered object of the program's (see ``Encoder``), or None
        self._objects: dict[Any, Any] | None = {} if persistent else None
        self._known: Sequence[Any] = ()

    def decode(self, data: Any, known: Sequence[Any] = ()) -> Any:
        """``known``: the objects ["P", i] stands for (the ones this side sent)."""
        self._memo = {}
        self._known = known
        return self._dec(data)

    def _dec(self, data: Any) -> Any:
        if type(data) is not list:
            return data
        tag = data[0]
        if tag == "O" and len(data) == 3:
            return self._numbered(_int(data[1]), self._dec(data[2]))
        body = data[1:]
        dec = self._dec
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
        dec = self._dec
        if tag in ("N", "A", "NaN", "P"):
            return self._reference(tag, body)
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
        if tag == "EXC" and self.on_class is not None:
            return self.on_class(body)
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

    def _reference(self, tag: str, body: list[Any]) -> Any:
        """Aliases within one message (N, A), NaN identities, and the receiver's own objects (P)."""
        number = _int(body[0])
        if tag == "N":
            value = self._dec(body[1])
            self._memo[number] = value
            return value
        if tag == "A":
            if number not in self._memo:
                raise ValueError("alias before its object")
            return self._memo[number]
        if tag == "NaN":
            table = self._memo if self._objects is None else self._objects
            return table.setdefault(("nan", number), float("nan"))

        if not 0 <= number < len(self._known):
            raise ValueError("unknown object reference")
        return self._known[number]

    def _numbered(self, number: int, value: Any) -> Any:
        """The object numbered ``number``: the copy decoded before, refreshed in place, if any."""
        if self._objects is None:
            return value
        old = self._objects.get(number)
        if old is None or type(old) is not type(value):
            self._objects[number] = value
            return value
        if isinstance(old, list | bytearray):
            old[:] = value
        elif isinstance(old, dict):
            dict.clear(old)
            dict.update(old, value)
        elif isinstance(old, set):
            old.clear()
            old.update(value)
        elif isinstance(old, collections.deque):
            old.clear()
            old.extend(value)
        return old  # tuples and frozensets: their parts refreshed themselves

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
