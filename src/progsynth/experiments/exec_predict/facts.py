"""Execution facts: each assert's call and the value the reference solution really returns for it.

A fact is computed in the sandbox, never on the host: the request runs the reference solution, then
the task's setup code followed by a small probe that evaluates the call and prints one marked JSON
line (``repr`` of the value, its type, and whether that repr reads back as an equal literal), and
then the original assert as the request's one test, so each fact also records whether the assert's
own expectation holds (``assert_holds``; MBPP has a few that do not, and the fact follows execution).

Values whose ``repr`` is not a Python literal (objects, ``nan``, generators...) or longer than
``MAX_REPR`` characters cannot be predicted as text and scored safely; they are recorded with their
``OutputKind`` and left out of scoring with a count. Facts live in ``facts.jsonl`` (one line per
task and assert, the ``index`` being the assert's position), so a rerun only computes missing ones.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.execution.probe import MAX_REPR, new_marker, probe_request, read_probe
from progsynth.experiments.exec_predict.calls import Call, decompose, defined_names
from progsynth.experiments.exec_predict.scoring import Unparsed, literal_value
from progsynth.store.jsonl import AppendOnlyStore, JsonlWriter, iter_records
from progsynth.types import Problem
from progsynth.verdicts import Status, Verdict

FACTS_FILE = "facts.jsonl"

class OutputKind(enum.Enum):
    LITERAL = "literal"  # scored
    NOT_LITERAL = "not_literal"  # repr does not read back as an equal literal
    TOO_LONG = "too_long"  # repr longer than MAX_REPR
    RAISED = "raised"  # the reference raised, timed out or was killed on this call
    UNDECOMPOSED = "undecomposed"  # the assert's call could not be isolated

    @property
    def usable(self) -> bool:
        return self is OutputKind.LITERAL


@dataclass(frozen=True)
class Fact:
    """One assert of one task: the call, the real output (``repr``) and what kind of value it is."""

    task_id: str
    index: int
    assert_text: str
    call: str | None
    kind: OutputKind
    output: str | None = None
    type_name: str = ""
    assert_holds: bool | None = None
    reason: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.index)

    def value(self) -> Any:
        """The output as a Python value (only for LITERAL facts)."""
        parsed = literal_value(self.output or "")
        if isinstance(parsed, Unparsed):
            raise ValueError(f"{self.task_id}#{self.index}: output is not a literal ({parsed.reason})")
        return parsed

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "index": self.index, "assert": self.assert_text, "call": self.call,
                "kind": self.kind.value, "output": self.output, "type": self.type_name,
                "assert_holds": self.assert_holds, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fact:
        """A stored fact; a LITERAL one whose output does not read back is refused (ValueError)."""
        kind = OutputKind(data["kind"])
        if kind is OutputKind.LITERAL and isinstance(literal_value(str(data.get("output"))), Unparsed):
            raise ValueError("a literal fact whose output is not a literal")
        return cls(str(data["task_id"]), int(data["index"]), str(data["assert"]), data.get("call"),
                   kind, data.get("output"), str(data.get("type", "")),
                   data.get("assert_holds"), str(data.get("reason", "")))


def fact_request(problem: Problem, index: int, call: Call, limits: Limits, marker: str) -> ExecRequest:
    """Reference, then setup and the probe, then the assert itself as the one test."""
    return probe_request(f"{problem.task_id}\x00{index}", problem.reference_completion, call.source,
                         setup=problem.setup, tests=(problem.tests[index],), limits=limits, marker=marker)


def read_fact(problem: Problem, index: int, call: Call, verdict: Verdict, marker: str) -> Fact:
    """The fact from the probe's marked line, or RAISED with the verdict's reason."""
    base = Fact(problem.task_id, index, problem.tests[index], call.source, OutputKind.RAISED)
    try:
        probed = read_probe(verdict.stdout, marker)
    except ValueError as exc:
        return _with(base, reason=str(exc))
    if probed is None:
        reason = f"{verdict.status.value}: {verdict.error_type or ''} {verdict.message}".strip()
        return _with(base, reason=reason[:300])
    text, type_name = probed.text, probed.type_name
    holds = verdict.status is Status.PASSED
    common = {"output": text[:MAX_REPR], "type_name": type_name, "assert_holds": holds}
    if len(text) > MAX_REPR:
        return _with(base, kind=OutputKind.TOO_LONG, reason=f"repr longer than {MAX_REPR} characters", **common)
    if not probed.literal or isinstance(literal_value(text), Unparsed):
        return _with(base, kind=OutputKind.NOT_LITERAL, reason=f"a {type_name} whose repr is not a literal",
                     **common)
    return _with(base, kind=OutputKind.LITERAL, **common)


def _with(base: Fact, **changes: Any) -> Fact:
    return replace(base, **changes)


def compute_facts(executor: Executor, problems: Iterable[Problem], limits: Limits) -> list[Fact]:
    """Every assert of ``problems`` as a fact, executed in one batch through ``executor``."""
    marker = new_marker()
    facts: list[Fact] = []
    pending: dict[str, tuple[Problem, int, Call]] = {}
    requests: list[ExecRequest] = []
    for problem in problems:
        program = defined_names(problem.reference_completion, problem.setup)
        for index, test in enumerate(problem.tests):
            found = decompose(test, program)
            if isinstance(found, Call):
                request = fact_request(problem, index, found, limits, marker)
                pending[request.key] = (problem, index, found)
                requests.append(request)
            else:
                facts.append(Fact(problem.task_id, index, test, None, OutputKind.UNDECOMPOSED, reason=found.reason))
    for key, verdict in executor.run(requests):
        problem, index, call = pending.pop(key)
        facts.append(read_fact(problem, index, call, verdict, marker))
    for problem, index, call in pending.values():  # an executor must answer every request
        facts.append(Fact(problem.task_id, index, problem.tests[index], call.source, OutputKind.RAISED,
                          reason="executor returned no verdict"))
    return facts


class FactStore(AppendOnlyStore):
    """``facts.jsonl``: the facts computed so far, appended as they are computed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.facts: dict[tuple[str, int], Fact] = {}
        self._by_task: dict[str, dict[int, Fact]] = {}
        if path.exists():
            for line, record in iter_records(path):
                try:
                    self._keep(Fact.from_json(record))
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataError(path, f"not a fact ({type(exc).__name__}: {exc})", line=line) from None
        self._writer = JsonlWriter(path)

    def _keep(self, fact: Fact) -> None:
        self.facts[fact.key] = fact
        self._by_task.setdefault(fact.task_id, {})[fact.index] = fact

    def has_task(self, problem: Problem) -> bool:
        return all((problem.task_id, i) in self.facts for i in range(len(problem.tests)))

    def extend(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            if fact.key not in self.facts:
                self._keep(fact)
                self._writer.append(fact.to_json())

    def of_task(self, task_id: str) -> list[Fact]:
        facts = self._by_task.get(task_id, {})
        return [facts[i] for i in sorted(facts)]
