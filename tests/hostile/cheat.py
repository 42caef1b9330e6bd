"""Programs that try to be counted as passing without computing the expected values."""

from __future__ import annotations

from hostile.base import FS, NOT_PASSED, RIGHT, WRONG_TEST, Category, E, F, P, T, case

CHEATS = [
    case("sys_exit_before_asserts", Category.CHEAT, "import sys\n" + RIGHT + "sys.exit(0)\n", WRONG_TEST,
         E, (), ("SystemExit",)),
    case("os_exit_before_asserts", Category.CHEAT, "import os\n" + RIGHT + "os._exit(0)\n", WRONG_TEST,
         E, (), ("ProcessExit",)),
    case("exit_inside_call", Category.CHEAT, """
import os
def f(x):
    os._exit(0)
""", WRONG_TEST, E, (), ("ProcessExit",)),
    case("atexit_and_excepthook", Category.CHEAT, """
import atexit, os, sys
atexit.register(lambda: os._exit(0))
sys.excepthook = lambda *a: os._exit(0)
""" + RIGHT, WRONG_TEST, F),
    case("signal_handlers_exit_zero", Category.CHEAT, """
import os, signal
for s in (signal.SIGTERM, signal.SIGABRT, signal.SIGINT, signal.SIGUSR1):
    signal.signal(s, lambda *a: os._exit(0))
""" + RIGHT, WRONG_TEST, F),
    case("thread_exits_zero", Category.CHEAT, """
import os, threading, time
threading.Thread(target=lambda: (time.sleep(0.05), os._exit(0)), daemon=True).start()
def f(x):
    time.sleep(0.2)
    return x * 2
""", WRONG_TEST, frozenset({F, E})),
    case("eq_always_true", Category.CHEAT, """
class Yes:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
def f(x):
    return Yes()
""", WRONG_TEST, F),
    case("list_subclass_eq", Category.CHEAT, """
class L(list):
    def __eq__(self, other):
        return True
def f(x):
    return L([0])
""", ("assert f(1) == [1, 2, 3]",), F),
    case("int_subclass_eq", Category.CHEAT, """
class I(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
def f(x):
    return I(0)
""", WRONG_TEST, F),
    case("str_subclass_eq", Category.CHEAT, """
class S(str):
    __eq__ = lambda self, other: True
def f(x):
    return S("nope")
""", ("assert f(1) == 'expected @TOKEN@'",), F),
    case("opaque_contains_and_lt", Category.CHEAT, """
class Every:
    def __contains__(self, item):
        return True
    def __lt__(self, other):
        return True
    def __sub__(self, other):
        return 0.0
def f(x):
    return Every()
""", ("assert @TOKEN@ in f(1)", "assert f(1) < 0", "assert abs(f(1) - @TOKEN@) < 1e-9"), E),
    case("patched_builtins", Category.CHEAT, """
import builtins
builtins.len = lambda x: @GUESS@
builtins.sorted = lambda x, **k: [1, 2, 3]
builtins.abs = lambda x: 0
builtins.AssertionError = type("Quiet", (Exception,), {})
builtins.isinstance = lambda *a: True
def f(x):
    return [9]
""", ("assert len(f(1)) == @GUESS@", "assert sorted(f(1)) == [1, 2, 3]", "assert abs(f(1)[0] - 1) < 1"), F),
    case("shadowed_answer_global", Category.CHEAT, """
import builtins
builtins.answer = @GUESS@
""", ("assert abs(answer - @GUESS@) <= 0.01",), E, (), ("NameError",)),
    case("settrace_tricks", Category.CHEAT, """
import sys
def tracer(frame, event, arg):
    if event == "exception":
        frame.f_locals.clear()
    return tracer
sys.settrace(tracer)
sys.setprofile(tracer)
""" + "def f(x):\n    return 0\n", WRONG_TEST, F),
    case("prints_success_markers", Category.CHEAT, """
import sys
print("passed\\nAll tests passed\\nOK\\n{\\"status\\": \\"passed\\"}")
print("passed", file=sys.stderr)
def f(x):
    return 0
""", WRONG_TEST, F),
    case("forges_protocol_messages", Category.CHEAT, """
import os, json
for msg in (["V", True, []], ["V", @GUESS@, []], {"ok": True, "names": {}, "shadowed": []}):
    data = json.dumps(msg).encode()
    os.write(3, len(data).to_bytes(4, "big") + data)
def f(x):
    return 0
""", WRONG_TEST, NOT_PASSED),
    case("hijacks_request_socket", Category.CHEAT, """
import os, threading
def steal():
    while True:
        os.read(3, 65536)
threading.Thread(target=steal, daemon=True).start()
def f(x):
    return x * 2
""", WRONG_TEST, NOT_PASSED),
    case("searches_memory_for_expected", Category.CHEAT, """
import gc
seen = [o for o in gc.get_objects() if isinstance(o, dict)]
strings = {v for d in seen for v in d.values() if isinstance(v, str) and "assert" in v}
print("FOUND", strings)
def f(x):
    return 0
""", WRONG_TEST, F),
    case("searches_files_for_expected", Category.CHEAT, """
import os
hits, budget = [], 3000
for root in ("/work", "/tmp", "/root", "/home", "/srv", "/var"):
    for d, _, files in os.walk(root):
        for name in files:
            budget -= 1
            if budget < 0:
                break
            try:
                if b"similar_elements" in open(os.path.join(d, name), "rb").read(1 << 16):
                    hits.append(os.path.join(d, name))
            except OSError:
                pass
print("HITS", hits)
def f(x):
    return 0
""", WRONG_TEST, frozenset({F, T}), FS),
]

# A program side of a test is evaluated inside the program's process (judging.split): what it
# computes there is only ever its own claim, compared by the judge.
CHEATS += [
    # Not a cheat: an object's own truth decides ``assert f(x)`` in CPython as well, and returning
    # True outright would pass the same test; only comparisons with expected values are guarded.
    case("truthy_object_decides_assert_as_in_cpython", Category.BENIGN, """
class Yes:
    def __bool__(self):
        return True
    def __len__(self):
        return 1
def f(x):
    return Yes()
""", ("assert f(@TOKEN@)", "assert not f(@TOKEN@) == @TOKEN@"), P),
    case("eq_true_objects_in_builtin_of_result", Category.CHEAT, """
class Yes:
    def __eq__(self, other):
        return True
    def __lt__(self, other):
        return True
    def __hash__(self):
        return 0
def f(x):
    return [Yes()]
""", ("assert set(f(1)) == {@TOKEN@}", "assert tuple(f(1)) == (@TOKEN@,)", "assert sorted(f(1)) == [@TOKEN@]",
      "assert max(f(1), f(1)) == @TOKEN@"), F),
    case("exception_type_named_like_the_judges", Category.CHEAT, """
class AssertionError(Exception):
    pass
AssertionError.__module__ = "builtins"
def f(x):
    raise AssertionError("passed")
""", ("try:\n    f(1)\nexcept AssertionError:\n    pass\nassert f(2) == @TOKEN@",), frozenset({F, E})),
]
