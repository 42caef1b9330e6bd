"""Programs that crash the interpreter or hand the judge pathological values."""

from __future__ import annotations

from hostile.base import RIGHT, WRONG_TEST, Category, E, F, K, case

CRASHES = [
    case("segfault", Category.CRASH, "import ctypes\nctypes.string_at(0)\n", ("assert True",), K, (), ("Signal",)),
    case("abort", Category.CRASH, "import os\nos.abort()\n", ("assert True",), K, (), ("Signal",)),
    case("c_stack_overflow", Category.CRASH, """
import sys
sys.setrecursionlimit(10 ** 8)
class Loop:
    def __repr__(self):
        return repr(self)  # recursion through C: overflows the C stack
repr(Loop())
""", ("assert True",), K, (), ("Signal",)),
    case("keyboard_interrupt", Category.CRASH, "raise KeyboardInterrupt\n", ("assert True",), E, (),
         ("KeyboardInterrupt",)),
    case("custom_base_exception_in_test", Category.CRASH, """
class Boom(BaseException):
    pass
def f(x):
    raise Boom("bang")
""", ("assert f(1) == 2",), E, (), ("Boom",)),
    case("unprintable_exception", Category.CRASH, """
class Bad(Exception):
    def __str__(self):
        raise RuntimeError("no")
def f(x):
    raise Bad()
""", ("assert f(1) == 2",), E, (), ("Bad",)),
    case("self_referencing_value", Category.CRASH, """
def f(x):
    a = []
    a.append(a)
    return a
""", ("assert f(1) == [[]]",), F),
    case("very_deep_value", Category.CRASH, """
def f(x):
    v = []
    for _ in range(100000):
        v = [v]
    return v
""", ("assert f(1) == []",), F),
    case("closes_request_socket", Category.CRASH, "import os\nos.close(3)\n" + RIGHT, WRONG_TEST,
         frozenset({E, K})),
]
