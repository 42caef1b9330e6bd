"""The versioned results document (``results.json``, schema ``progsynth.results/1``) as typed records.

``Results`` is built from problems, verdict records and samples by ``build_results`` and written
with ``Results.to_json()``; readers (the terminal report, ``progsynth summary``, experiments) get it
back with ``Results.from_json()`` and read fields, never strings. The JSON layout is the documented
one: the overall metrics block sits at the top level beside ``config``, ``environment`` and the rest.
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from progsynth.errors import DataError
from progsynth.metrics import Estimate, TaskCounts, summarize
from progsynth.store.verdicts import Suite, VerdictRecord
from progsynth.types import Problem, Sample
from progsynth.verdicts import Status

SCHEMA = "progsynth.results/1"
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Failure:
    """The first failing sample of a task: enough to see why without opening verdicts.jsonl."""

    task_id: str
    sample_idx: int
    status: Status
    error_type: str | None = None
    failed_test: int | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task_id": self.task_id, "sample_idx": self.sample_idx, "status": self.status.value}
        if self.error_type:
            out["error_type"] = self.error_type
        if self.failed_test is not None:
            out["failed_test"] = self.failed_test
        if self.message:
            out["message"] = self.message
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(str(data["task_id"]), int(data["sample_idx"]), Status(data["status"]), data.get("error_type"),
                   data.get("failed_test"), str(data.get("message", "")))


@dataclass(frozen=True)
class MetricsBlock:
    """Counts and metrics over one set of tasks (the whole run, one split, or the challenge tests)."""

    tasks: int
    samples: int
    passed: int
    metrics: Mapping[str, Estimate]
    verdicts: Mapping[Status, int]
    error_types: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "samples": self.samples,
            "passed": self.passed,
            "metrics": {name: e.to_json() for name, e in self.metrics.items()},
            "verdicts": {s.value: self.verdicts.get(s, 0) for s in Status},
            "error_types": dict(self.error_types),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetricsBlock:
        metrics = {name: Estimate(float(e["value"]), float(e["ci95"][0]), float(e["ci95"][1]))
                   for name, e in data["metrics"].items()}
        return cls(int(data["tasks"]), int(data["samples"]), int(data["passed"]), metrics,
                   {Status(k): int(v) for k, v in data["verdicts"].items()}, dict(data.get("error_types") or {}))


@dataclass(frozen=True)
class ChallengeResults:
    """MBPP's ``challenge_test_list``: reported beside the score, never inside it."""

    block: MetricsBlock
    failed_tasks: tuple[Failure, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.block.to_json(), "failed_tasks": [f.to_json() for f in self.failed_tasks]}


@dataclass(frozen=True)
class TaskScore:
    task_id: str
    n: int
    c: int


@dataclass(frozen=True)
class Coverage:
    """Which of the split's tasks the scores cover, said out loud.

    By default a task with no sample at all (a samples file that covers part of a split) is left out
    of every metric, so pass@k and "samples that pass" describe the same tasks; with
    ``missing_as_failed`` every sample a task lacks (up to the run's n) counts as a failed one.
    """

    split_tasks: int
    absent_tasks: tuple[str, ...] = ()
    missing_as_failed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"split_tasks": self.split_tasks, "absent": len(self.absent_tasks),
                "missing_as_failed": self.missing_as_failed, "absent_tasks": list(self.absent_tasks)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, tasks: int) -> Coverage:
        if not data:  # files written before coverage was recorded scored every task
            return cls(tasks)
        return cls(int(data["split_tasks"]), tuple(data.get("absent_tasks") or ()), bool(data["missing_as_failed"]))


@dataclass(frozen=True)
class RunInfo:
    """What the run adds beside the scores: who generated, what protected, how long it took.

    Kept apart from the scores so no caller can overwrite a core key (the old ``extra`` dict could).
    """

    backend: Mapping[str, Any] | None = None
    sandbox: Mapping[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    samples_file: str | None = None
    #: problems found in an input samples file that did not stop the run (e.g. a torn last line)
    input_warnings: tuple[str, ...] = ()
    #: how CPU limits were set (``execution.adaptive.Calibration.to_json``)
    timeouts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Results:
    """One results document."""

    created: str
    config: Mapping[str, Any]
    environment: Mapping[str, Any]
    overall: MetricsBlock
    by_split: Mapping[str, MetricsBlock]
    finish_reasons: Mapping[str, int]
    incomplete_tasks: tuple[str, ...]
    failed_tasks: tuple[Failure, ...]
    per_task: tuple[TaskScore, ...]
    challenge: ChallengeResults | None
    coverage: Coverage
    info: RunInfo

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "created": self.created,
            "config": dict(self.config),
            "environment": dict(self.environment),
            **self.overall.to_json(),
            "coverage": self.coverage.to_json(),
            "by_split": {name: block.to_json() for name, block in self.by_split.items()},
            "generation": {"finish_reasons": dict(self.finish_reasons)},
            "incomplete_tasks": list(self.incomplete_tasks),
            "failed_tasks": [f.to_json() for f in self.failed_tasks],
            "per_task": [{"task_id": t.task_id, "n": t.n, "c": t.c} for t in self.per_task],
        }
        if self.challenge is not None:
            doc["challenge"] = self.challenge.to_json()
        if self.info.backend is not None:
            doc["backend"] = dict(self.info.backend)
        if self.info.samples_file is not None:
            doc["samples_file"] = self.info.samples_file
        if self.info.input_warnings:
            doc["input_warnings"] = list(self.info.input_warnings)
        doc["sandbox"] = dict(self.info.sandbox)
        doc["timeouts"] = dict(self.info.timeouts)
        doc["timing"] = {"wall_s": self.info.wall_s}
        return doc

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: object = "results.json") -> Results:
        """A results document read back; a file of another schema or shape is a DataError."""
        if data.get("schema") != SCHEMA:
            raise DataError(source, f"expected schema {SCHEMA}, got {data.get('schema')!r}", field="schema")
        try:
            return cls._parse(data)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(source, f"malformed results document ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> Results:
        challenge = data.get("challenge")
        overall = MetricsBlock.from_json(data)
        return cls(
            created=str(data.get("created", "")),
            config=dict(data.get("config") or {}),
            environment=dict(data.get("environment") or {}),
            overall=overall,
            by_split={k: MetricsBlock.from_json(v) for k, v in (data.get("by_split") or {}).items()},
            finish_reasons=dict((data.get("generation") or {}).get("finish_reasons") or {}),
            incomplete_tasks=tuple(data.get("incomplete_tasks") or ()),
            failed_tasks=tuple(Failure.from_json(f) for f in data.get("failed_tasks") or ()),
            per_task=tuple(TaskScore(str(t["task_id"]), int(t["n"]), int(t["c"])) for t in data.get("per_task") or ()),
            challenge=None if not challenge else ChallengeResults(
                MetricsBlock.from_json(challenge),
                tuple(Failure.from_json(f) for f in challenge.get("failed_tasks", ()))),
            coverage=Coverage.from_json(data.get("coverage"), overall.tasks),
            info=RunInfo(backend=data.get("backend"), sandbox=dict(data.get("sandbox") or {}),
                         wall_s=float((data.get("timing") or {}).get("wall_s", 0.0)),
                         samples_file=data.get("samples_file"),
                         input_warnings=tuple(data.get("input_warnings") or ()),
                         timeouts=dict(data.get("timeouts") or {})),
        )


# --- building ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """A problem's samples joined with their verdicts for one suite."""

    problem: Problem
    records: tuple[VerdictRecord, ...]
    #: samples the task is scored over: missing ones up to this count are failures (``missing_as_failed``)
    pad_to: int = 0

    @property
    def counts(self) -> TaskCounts:
        n = max(len(self.records), self.pad_to)
        return TaskCounts(self.problem.task_id, n, sum(r.verdict.passed for r in self.records))


def join(problems: Sequence[Problem], records: Mapping[tuple[str, int, Suite], VerdictRecord], n: int,
         suite: Suite, pad: bool = False) -> list[Judged]:
    """For each problem, the verdicts of samples 0..n-1 in ``suite`` (missing ones are skipped, or
    counted as failures with ``pad``)."""
    out = []
    for p in problems:
        if suite is Suite.CHALLENGE and not p.challenge_tests:
            continue
        recs = tuple(r for i in range(n) if (r := records.get((p.task_id, i, suite))) is not None)
        out.append(Judged(p, recs, n if pad else 0))
    return out


def _failure(j: Judged) -> Failure:
    bad = next(r for r in j.records if not r.verdict.passed)
    v = bad.verdict
    return Failure(j.problem.task_id, bad.sample_idx, v.status, v.error_type, v.failed_test, v.message[:MESSAGE_CHARS])


def _failures(judged: Iterable[Judged]) -> tuple[Failure, ...]:
    return tuple(_failure(j) for j in judged if any(not r.verdict.passed for r in j.records))


def metrics_block(judged: Sequence[Judged], seed: int = 0) -> MetricsBlock:
    counts = [j.counts for j in judged]
    records = [r for j in judged for r in j.records]
    statuses = collections.Counter(r.verdict.status for r in records)
    errors = collections.Counter(r.verdict.error_type or "" for r in records if r.verdict.status is Status.ERROR)
    return MetricsBlock(len(judged), sum(c.n for c in counts), sum(c.c for c in counts),
                        summarize(counts, seed=seed), dict(statuses), dict(errors.most_common(15)))


def _per_split(judged: Sequence[Judged], seed: int) -> dict[str, MetricsBlock]:
    groups: dict[str, list[Judged]] = collections.defaultdict(list)
    for j in judged:
        groups[j.problem.split].append(j)
    return {split: metrics_block(js, seed) for split, js in groups.items()} if len(groups) > 1 else {}


def build_results(
    config: Mapping[str, Any],
    environment: Mapping[str, Any],
    problems: Sequence[Problem],
    records: Mapping[tuple[str, int, Suite], VerdictRecord],
    samples: Sequence[Sample],
    n: int,
    info: RunInfo,
    missing_as_failed: bool = False,
) -> Results:
    """The results document for ``problems`` judged with up to ``n`` samples each.

    Every metric covers the same tasks: those with at least one verdict, or all of them with
    ``missing_as_failed`` (see ``Coverage``).
    """
    pad = missing_as_failed
    every = join(problems, records, n, Suite.TESTS, pad)
    absent = tuple(j.problem.task_id for j in every if not j.records)
    judged = every if pad else [j for j in every if j.records]
    covered = {j.problem.task_id for j in judged}
    challenge = join([p for p in problems if p.task_id in covered], records, n, Suite.CHALLENGE, pad)
    reasons = collections.Counter(s.finish_reason.value if s.finish_reason else "unknown" for s in samples)
    return Results(
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        config=dict(config),
        environment=dict(environment),
        overall=metrics_block(judged),
        by_split=_per_split(judged, 0),
        finish_reasons=dict(reasons),
        incomplete_tasks=tuple(j.problem.task_id for j in judged if len(j.records) < n),
        failed_tasks=_failures(judged),
        per_task=tuple(TaskScore(j.problem.task_id, j.counts.n, j.counts.c) for j in judged),
        challenge=ChallengeResults(metrics_block(challenge), _failures(challenge)) if challenge else None,
        coverage=Coverage(len(problems), absent, missing_as_failed),
        info=info,
    )
