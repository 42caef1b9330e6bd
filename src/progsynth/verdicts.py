"""Typed verdicts: what happened when a program ran against its tests.

The trusted parent decides every verdict; nothing printed or returned by the program can set it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # an assert evaluated to false
    ERROR = "error"  # an exception other than AssertionError (type in ``error_type``)
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"  # CPU or wall-clock limit
    KILLED = "killed"  # a signal, the memory limit, or the sandbox stopped it

    @property
    def passed(self) -> bool:
        return self is Status.PASSED


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test statement (an assert), in the order the problem lists them."""

    index: int
    status: Status
    error_type: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one program: overall status plus per-test results.

    ``status`` is PASSED only if every test passed. For FAILED/ERROR, ``failed_test`` is the index
    of the first test that did not pass (None when the program failed before any test ran).
    """

    status: Status
    tests: tuple[TestResult, ...] = ()
    error_type: str | None = None
    message: str = ""
    failed_test: int | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status.value}
        if self.error_type:
            out["error_type"] = self.error_type
        if self.message:
            out["message"] = self.message[:2000]
        if self.failed_test is not None:
            out["failed_test"] = self.failed_test
        out["tests"] = [t.status.value for t in self.tests]
        out["wall_s"] = round(self.wall_s, 4)
        out["cpu_s"] = round(self.cpu_s, 4)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        tests = tuple(TestResult(i, Status(s)) for i, s in enumerate(data.get("tests", [])))
        return cls(
            status=Status(data["status"]),
            tests=tests,
            error_type=data.get("error_type"),
            message=data.get("message", ""),
            failed_test=data.get("failed_test"),
            wall_s=float(data.get("wall_s", 0.0)),
            cpu_s=float(data.get("cpu_s", 0.0)),
        )
