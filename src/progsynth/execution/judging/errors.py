"""Exceptions crossing the boundary: described by name in the program's process, rebuilt as classes
in the judge, so a test's ``except ValueError`` catches the program's ``class Bad(ValueError)`` and
``type(e).__name__`` reads ``'Bad'``, as in CPython.

Only names cross (never a pickled object, never code): the judge builds each program class itself
with ``type()``, under the nearest builtin exception the program's class derives from, with the same
names for the same chain of classes, so ``except Bad`` (``Bad`` fetched from the program) matches a
raised ``Bad`` or a subclass of it.
"""

from __future__ import annotations

import builtins
from typing import Any

from progsynth.execution.protocol import Reply

#: the longest chain of program-defined classes described (deeper hierarchies are cut)
MAX_CHAIN = 16
_BUILTIN_EXC = {name: value for name, value in vars(builtins).items()
                if isinstance(value, type) and issubclass(value, BaseException)}
_MRO = type.__dict__["__mro__"]
_NAME = type.__dict__["__name__"]
_MODULE = type.__dict__["__module__"]


class RemoteError(Exception):
    """The base of every exception class only the program defines, as rebuilt here."""

    type_name = "RemoteError"


def describe_class(cls: type) -> list[Any]:
    """[chain of [name, module] of the program's classes, name of the nearest builtin base]. Runs
    in the program's process: reads the class through ``type``'s own descriptors."""
    chain: list[list[str]] = []
    for klass in _MRO.__get__(cls):
        name = str(_NAME.__get__(klass))
        module = _MODULE.__get__(klass)
        if module == "builtins" and _BUILTIN_EXC.get(name) is klass:
            return [chain, name]
        if len(chain) < MAX_CHAIN:
            chain.append([name, str(module)])
    return [chain, "Exception"]


def describe_exception(exc: BaseException) -> list[Any]:
    """[Reply.RAISED, type name, module, message, class description]: how an exception crosses
    the boundary (never pickled)."""
    t = type(exc)
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break reporting
        message = "<unprintable>"
    try:
        described: list[Any] | None = describe_class(t)
    except BaseException:  # noqa: BLE001 - a class with a hostile metaclass is described by name only
        described = None
    return [Reply.RAISED, str(getattr(t, "__name__", "Exception")), str(getattr(t, "__module__", "")),
            message[:4000], described]


_CLASSES: dict[tuple[str, str, type], type] = {}


def program_class(described: Any) -> type[BaseException]:
    """The judge's class for a program's exception class (see ``describe_class``); raises
    ValueError on a malformed description."""
    if type(described) is not list or len(described) != 2 or type(described[0]) is not list:
        raise ValueError("malformed exception class")
    chain, base_name = described
    cls: type[BaseException] = _BUILTIN_EXC.get(base_name, Exception) if type(base_name) is str else Exception
    if len(_CLASSES) > 10_000:
        _CLASSES.clear()
    for item in reversed(chain[:MAX_CHAIN]):
        if type(item) is not list or len(item) != 2 or not all(type(x) is str for x in item):
            raise ValueError("malformed exception class")
        name, module = item
        key = (name, module, cls)
        if key not in _CLASSES:
            _CLASSES[key] = _make(name, module, cls)
        cls = _CLASSES[key]
    if not issubclass(cls, RemoteError):  # a description that named no program class
        cls = _make(str(base_name), "", cls)
    return cls


def _make(name: str, module: str, base: type[BaseException]) -> type[BaseException]:
    namespace = {"__module__": module, "type_name": name}
    bases: tuple[type, ...] = (base,) if issubclass(base, RemoteError) else \
        (RemoteError,) if base is Exception else (base, RemoteError)
    try:
        return type(name, bases, namespace)
    except (TypeError, ValueError):  # an impossible layout or MRO, or a name type() refuses
        return type("RemoteError", (RemoteError,), {"__module__": module, "type_name": name})


def rebuild_exception(type_name: str, module: str, message: str, described: Any = None) -> BaseException:
    """A builtin exception type is rebuilt as itself (tests may catch ValueError); a program's
    as the judge's class for it (``program_class``)."""
    own = type(described) is list and len(described) == 2 and described[0] != []  # a program class
    cls = _BUILTIN_EXC.get(type_name) if module == "builtins" and not own else None
    if cls is None:
        try:
            cls = program_class(described if described is not None else [[[type_name, module]], "Exception"])
        except ValueError:
            cls = program_class([[[type_name, module]], "Exception"])
    try:
        return cls(message) if message else cls()
    except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
        fallback = program_class([[[type_name, module]], "Exception"])
        return fallback(message)
