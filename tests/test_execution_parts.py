"""The executor's parts that need no pool: value encoding across the boundary, the wire format,
adaptive timeouts, and the sandbox self-check (which starts a real pool)."""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import math
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from progsynth.errors import UsageError
from progsynth.execution import ExecRequest, Executor, Limits, create_executor, protocol
from progsynth.execution.adaptive import AdaptiveTimeouts, reference_cpu_times
from progsynth.execution.judging import split
from progsynth.execution.judging.child import HandleTable
from progsynth.execution.judging.encoding import Decoder, Encoder, Unencodable
from progsynth.execution.judging.errors import describe_class, program_class, rebuild_exception
from progsynth.execution.sandbox.config import hidden_paths
from progsynth.execution.sandbox.selfcheck import run_selfcheck
from progsynth.verdicts import Status, Verdict


def _refuse_module(name: str) -> Any:
    raise ValueError(f"module {name} refused")


def roundtrip(value: Any) -> Any:
    table = HandleTable()
    return Decoder(lambda body: ("handle", body[0]), _refuse_module).decode(Encoder(table.handle).encode(value))


@pytest.mark.parametrize("value", [
    None, True, 0, -(2 ** 70), 2 ** 5000, 1.5, -0.0, math.inf, "naïve \udc80", b"\x00\xff", bytearray(b"ab"),
    [1, [2, (3, {4: frozenset({5})})]], {"a": {1, 2}}, 3 + 4j, collections.Counter("aab"),
    collections.OrderedDict(b=1, a=2), collections.deque([1, 2], maxlen=3), collections.defaultdict(list, a=[1]),
    decimal.Decimal("1.10"), fractions.Fraction(3, 7), range(1, 10, 2), slice(1, None, 2), Ellipsis,
    datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 1, 12, 30), datetime.timedelta(days=1, seconds=5),
    int, len, ValueError,
])
def test_plain_values_survive_the_boundary_exactly(value: Any) -> None:
    back = roundtrip(value)
    assert back == value and type(back) is type(value)
    if isinstance(value, collections.deque):
        assert back.maxlen == value.maxlen


def test_nan_survives() -> None:
    assert math.isnan(roundtrip(float("nan")))


def test_subclasses_arrive_as_their_base_value_without_their_methods() -> None:
    class Liar(list):  # type: ignore[type-arg]
        def __eq__(self, other: object) -> bool:
            return True

    class Num(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    assert roundtrip(Liar([1])) == [1] and type(roundtrip(Liar([1]))) is list
    assert roundtrip(Num(3)) == 3 and roundtrip(Num(3)) != 4
    assert roundtrip(collections.namedtuple("P", "x y")(1, 2)) == (1, 2)


def test_program_objects_and_cycles_become_handles() -> None:
    class Node:
        pass

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert roundtrip(Node())[0] == "handle"
    assert roundtrip(cyclic) == [("handle", 0)]  # the inner reference closes the cycle
    with pytest.raises(Unencodable):
        Encoder(None).encode(Node())


@pytest.mark.parametrize("data", [["M", "os"], ["G", "eval"], ["G", "__import__"], ["I", 5], ["Q"], ["D", [1]],
                                  ["FR", "1", "2"], ["R", 1.5, 2, 1]])
def test_malformed_or_forbidden_values_are_refused(data: Any) -> None:
    with pytest.raises((ValueError, TypeError, IndexError)):
        Decoder(lambda body: body, _refuse_module).decode(data)


def test_wire_messages_carry_text_and_descriptors() -> None:
    a, b = socket.socketpair()
    r, w = socket.socketpair()
    try:
        sender = threading.Thread(target=protocol.send, args=(a, {"text": "x" * 3_000_000 + "\udc80", "n": 2 ** 70}),
                                  kwargs={"fds": (r.fileno(),)})
        sender.start()  # bigger than the socket buffer: the reader must run meanwhile
        msg, fds = protocol.recv(b)
        sender.join()
        assert msg["text"].endswith("\udc80") and msg["n"] == 2 ** 70 and len(fds) == 1
        a.sendall(b"\x00\x00\x00\x05{bad}")
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(b)
        a.close()
        with pytest.raises(protocol.PeerGone):
            protocol.recv(b)
    finally:
        for s in (a, b, r, w):
            s.close()


def test_adaptive_timeouts_follow_the_reference() -> None:
    adaptive = AdaptiveTimeouts(factor=4.0, floor_s=0.5)
    base = Limits(timeout_s=10.0)
    assert adaptive.limits(base, 0.01).timeout_s == 0.5
    assert adaptive.limits(base, 1.0).timeout_s == 4.0
    assert adaptive.limits(base, 5.0).timeout_s == 10.0
    assert adaptive.limits(base, None) is base
    with pytest.raises(UsageError):
        AdaptiveTimeouts(factor=0.5)
    reference = "def work():\n    return sum(range(200_000))\n"
    with create_executor(workers=1) as ex:
        times = reference_cpu_times(ex, [ExecRequest("t1", reference, ("assert work() > 0",))])
        sample = ExecRequest("s1", "def work():\n    while True:\n        pass\n", ("assert work() > 0",))
        [adapted] = adaptive.apply([sample], {"s1": "t1"}, times)
        verdict = dict(ex.run([adapted]))["s1"]
    assert adapted.limits.timeout_s == 0.5
    assert verdict.status is Status.TIMEOUT and verdict.cpu_s < 2.0


def test_sandbox_check_reports_every_protection_and_passes() -> None:
    text, ok = run_selfcheck(workers=1)
    assert ok, text
    for name in ("uid", "network", "filesystem", "landlock", "seccomp", "cgroups", "rlimits", "ipc", "integrity"):
        assert name in text
    assert "Self-test:" in text and "FAIL" not in text


def test_executor_base_class_declares_the_optional_parts() -> None:
    class Echo(Executor):
        def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
            return ((r.key, Verdict(Status.PASSED)) for r in requests)

    with pytest.raises(TypeError):
        Executor()  # type: ignore[abstract]
    with Echo() as ex:
        assert ex.protections == {}
        assert dict(ex.run([ExecRequest("k", "", ())]))["k"].passed
    ex.close()  # a no-op, again


def test_hidden_paths_add_the_callers_to_the_generic_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGSYNTH_DATA_DIR", str(tmp_path))
    paths = hidden_paths(["/somewhere/benchmark-data", str(tmp_path.resolve())])
    assert paths[0] == "/somewhere/benchmark-data"
    assert paths.count(str(tmp_path.resolve())) == 1


def test_aliasing_and_nan_identity_survive_one_crossing() -> None:
    shared, nan = [1], float("nan")
    back = roundtrip([shared, shared, (shared,), nan, nan])
    assert back == [[1], [1], ([1],), back[3], back[3]]
    assert back[0] is back[1] is back[2][0] and back[3] is back[4] and [back[3]] == [back[4]]


def test_persistent_numbers_give_one_judge_object_per_program_object() -> None:
    table = HandleTable()
    encoder = Encoder(table.handle, persistent=True)
    decoder = Decoder(lambda body: body, _refuse_module, persistent=True)
    value, nan = [1, {"k": [2]}], float("nan")
    first = decoder.decode(encoder.encode([value, nan]))
    value.append(3)
    second = decoder.decode(encoder.encode([value, nan]))
    assert second[0] is first[0] and first[0] == [1, {"k": [2]}, 3]  # refreshed in place
    assert second[1] is first[1]
    mine = [5]
    assert Decoder(lambda b: b, _refuse_module).decode(Encoder(None).encode([mine], {id(mine): ["P", 0]}),
                                                       [mine])[0] is mine


def test_program_exception_classes_are_rebuilt_by_name_under_their_builtin_base() -> None:
    class Bad(ValueError):
        pass

    class Worse(Bad):
        pass

    worse, bad = program_class(describe_class(Worse)), program_class(describe_class(Bad))
    assert worse.__name__ == "Worse" and issubclass(worse, bad) and issubclass(bad, ValueError)
    exc = rebuild_exception("Worse", __name__, "big", describe_class(Worse))
    assert isinstance(exc, ValueError) and type(exc).__name__ == "Worse" and str(exc) == "big"
    assert type(rebuild_exception("KeyError", "builtins", "k")) is KeyError
    assert type(rebuild_exception("Odd", "m", "x", ["garbage"])).__name__ == "Odd"


@pytest.mark.parametrize(("test", "pieces"), [
    ("assert f({12, 13}) == (12, 13)", ["f({12, 13})"]),
    ("assert len(f(x)) == 3", ["len(f(x))", "f(x)"]),  # the inner one: the fallback's if x cannot cross
    ("assert tuple(f(1)) == f(2)", ["tuple(f(1))", "f(2)"]),
    ("assert isinstance(f(1), list)", ["f(1)"]),
    ("assert math.isclose(f(1), 2.5)", ["f(1)"]),
    ("assert abs(answer - 2.5) <= 1e-9 * max(abs(answer), abs(2.5))", ["abs(answer)"]),
    ("assert f(1) + 1 == 3", ["f(1)"]),
    ("assert not f(1)", ["f(1)"]),
    ("assert [f(i) for i in range(3)] == [1, 2, 3]", ["f(i)"]),
    ("assert sorted(f(1), key=lambda t: -t) == [3]", ["f(1)"]),
    ("assert f(1)[0] == 7 and f.__name__ == 'f'", ["f(1)[0]", "f.__name__"]),
])
def test_tests_split_so_expected_values_stay_in_the_judge(test: str, pieces: list[str]) -> None:
    rewritten = split.split(test, frozenset({"f", "answer"}), frozenset())
    assert [p.source for p in rewritten.pieces] == pieces


def test_calls_of_judge_names_go_to_the_program_only_when_they_hold_its_objects() -> None:
    rewritten = split.split("def check(candidate):\n    assert candidate({3, 1}) == (1, 3)\n", frozenset(),
                            frozenset())
    assert [(p.source, p.bindings, p.guards) for p in rewritten.pieces] == [
        ("candidate({3, 1})", ("candidate",), ("candidate",))]


def test_each_pool_runs_its_programs_under_uids_of_its_own() -> None:
    """Two runs at once must not share sandbox uids (they could reach each other's programs)."""
    program = "import os\nUID = os.getuid()\n"
    with create_executor(workers=1) as a, create_executor(workers=1) as b:
        assert set(a.sandbox_uids).isdisjoint(b.sandbox_uids)
        uids = []
        for ex in (a, b):
            ((_, verdict),) = list(ex.run([ExecRequest("k", program, ("assert UID >= 0",))]))
            assert verdict.passed, verdict
            if ex.protections["uid"].active:
                ((_, inside),) = list(ex.run([ExecRequest("u", program, (f"assert UID in {list(ex.sandbox_uids)}",))]))
                uids.append(inside.passed)
        assert all(uids)
