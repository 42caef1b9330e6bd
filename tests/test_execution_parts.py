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
from progsynth.execution.judging.child import HandleTable
from progsynth.execution.judging.encoding import Decoder, Encoder, Unencodable
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
    for name in ("uid", "network", "filesystem", "landlock", "seccomp", "cgroups", "rlimits", "integrity"):
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
