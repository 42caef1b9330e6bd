"""The versioned results document: configuration, environment, metrics, verdict counts, failures."""

from __future__ import annotations

import collections
import datetime
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from progsynth import __version__
from progsynth.metrics import TaskCounts, estimates_to_json, summarize
from progsynth.types import Problem, Sample
from progsynth.verdict_store import Suite, VerdictRecord
from progsynth.verdicts import Status

SCHEMA = "progsynth.results/1"


@dataclass(frozen=True)
class Judged:
    """A problem's samples joined with their verdicts for one suite."""

    problem: Problem
    records: tuple[VerdictRecord, ...]

    @property
    def counts(self) -> TaskCounts:
        return TaskCounts(self.problem.task_id, len(self.records), sum(r.verdict.passed for r in self.records))


def join(problems: Sequence[Problem], records: Mapping[tuple[str, int, Suite], VerdictRecord], n: int,
         suite: Suite) -> list[Judged]:
    """For each problem, the verdicts of samples 0..n-1 in ``suite`` (missing ones are skipped)."""
    out = []
    for p in problems:
        if suite is Suite.CHALLENGE and not p.challenge_tests:
            continue
        recs = tuple(r for i in range(n) if (r := records.get((p.task_id, i, suite))) is not None)
        out.append(Judged(p, recs))
    return out


def environment() -> dict[str, Any]:
    return {
        "progsynth": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def _failure(j: Judged) -> dict[str, Any]:
    bad = next(r for r in j.records if not r.verdict.passed)
    v = bad.verdict
    out: dict[str, Any] = {"task_id": j.problem.task_id, "sample_idx": bad.sample_idx, "status": v.status.value}
    if v.error_type:
        out["error_type"] = v.error_type
    if v.failed_test is not None:
        out["failed_test"] = v.failed_test
    if v.message:
        out["message"] = v.message[:300]
    return out


def metrics_block(judged: Sequence[Judged], seed: int = 0) -> dict[str, Any]:
    counts = [j.counts for j in judged]
    records = [r for j in judged for r in j.records]
    statuses = collections.Counter(r.verdict.status.value for r in records)
    errors = collections.Counter(r.verdict.error_type for r in records if r.verdict.status is Status.ERROR)
    return {
        "tasks": len(judged),
        "samples": sum(c.n for c in counts),
        "passed": sum(c.c for c in counts),
        "metrics": estimates_to_json(summarize(counts, seed=seed)),
        "verdicts": {s.value: statuses.get(s.value, 0) for s in Status},
        "error_types": dict(errors.most_common(15)),
    }


def _per_split(judged: Sequence[Judged], seed: int) -> dict[str, Any]:
    groups: dict[str, list[Judged]] = collections.defaultdict(list)
    for j in judged:
        groups[j.problem.split].append(j)
    return {split: metrics_block(js, seed) for split, js in groups.items()}


def _generation_stats(samples: Iterable[Sample]) -> dict[str, Any]:
    reasons = collections.Counter(s.finish_reason.value if s.finish_reason else "unknown" for s in samples)
    return {"finish_reasons": dict(reasons)}


def build_results(
    config: Mapping[str, Any],
    problems: Sequence[Problem],
    records: Mapping[tuple[str, int, Suite], VerdictRecord],
    samples: Sequence[Sample],
    n: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document for ``problems`` judged with up to ``n`` samples each."""
    judged = join(problems, records, n, Suite.TESTS)
    overall = metrics_block(judged)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": dict(config),
        "environment": environment(),
        **overall,
        "by_split": _per_split(judged, 0) if len({p.split for p in problems}) > 1 else {},
        "generation": _generation_stats(samples),
        "incomplete_tasks": [j.problem.task_id for j in judged if len(j.records) < n],
        "failed_tasks": [_failure(j) for j in judged if j.records and j.counts.c < j.counts.n],
        "per_task": [{"task_id": j.problem.task_id, "n": j.counts.n, "c": j.counts.c} for j in judged],
    }
    challenge = join(problems, records, n, Suite.CHALLENGE)
    if challenge:
        doc["challenge"] = {
            **metrics_block(challenge),
            "failed_tasks": [_failure(j) for j in challenge if j.records and j.counts.c < j.counts.n],
        }
    doc.update(extra or {})
    return doc
