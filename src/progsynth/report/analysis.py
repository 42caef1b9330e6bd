"""The paper's analyses of one or more runs, as frozen records the plots, the HTML and the tests read:
headline metrics per split, the error taxonomy, difficulty against task size, and the overfitting
checks (held-out challenge tests, hard-coded asserted outputs)."""

from __future__ import annotations

import collections
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from progsynth.metrics import Estimate, TaskCounts, summarize
from progsynth.report.hardcode import Finding, Oracle, build_oracle, detect
from progsynth.report.load import RunData, TaskRecord
from progsynth.store.verdicts import VerdictRecord
from progsynth.types import FinishReason, Problem, Sample
from progsynth.verdicts import Status

#: the k values of the paper's tables, shown where every task has at least k samples
PAPER_KS = (1, 10, 80)
_TOKEN = re.compile(r"\w+|[^\w\s]")


class Category(enum.Enum):
    """Why a sample failed, coarse enough to compare runs (the paper's error analysis)."""

    PASSED = "passed"
    TRUNCATED = "cut by the token limit"
    SYNTAX_ERROR = "syntax error"
    RUNTIME_ERROR = "runtime error"
    ASSERTION = "assertion failure"
    TIMEOUT = "timeout"
    KILLED = "killed"


_BY_STATUS = {Status.PASSED: Category.PASSED, Status.SYNTAX_ERROR: Category.SYNTAX_ERROR,
              Status.ERROR: Category.RUNTIME_ERROR, Status.FAILED: Category.ASSERTION,
              Status.TIMEOUT: Category.TIMEOUT, Status.KILLED: Category.KILLED}


def categorize(record: VerdictRecord, sample: Sample | None) -> Category:
    """A failing sample whose generation hit the token limit is filed as truncated whatever its
    status: the cut explains the syntax or runtime error that follows from it."""
    if record.verdict.passed:
        return Category.PASSED
    if sample is not None and sample.finish_reason is FinishReason.LENGTH:
        return Category.TRUNCATED
    return _BY_STATUS[record.verdict.status]


@dataclass(frozen=True)
class Taxonomy:
    """Samples of one run by category, runtime errors by exception type, assertion failures by
    which assert (0-based index into the task's tests)."""

    label: str
    samples: int
    counts: Mapping[Category, int]
    runtime_errors: Mapping[str, int]
    failed_asserts: Mapping[int, int]


def taxonomy(run: RunData) -> Taxonomy:
    """Every sample's verdict on the shown tests filed by ``categorize`` (challenge tests aside)."""
    counts: collections.Counter[Category] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    asserts: collections.Counter[int] = collections.Counter()
    for task in run.tasks:
        samples = {s.sample_idx: s for s in task.samples}
        for idx, rec in task.tests.items():
            cat = categorize(rec, samples.get(idx))
            counts[cat] += 1
            if cat is Category.RUNTIME_ERROR:
                errors[rec.verdict.error_type or "unknown"] += 1
            elif cat is Category.ASSERTION and rec.verdict.failed_test is not None:
                asserts[rec.verdict.failed_test] += 1
    return Taxonomy(run.label, sum(counts.values()), {c: counts[c] for c in Category},
                    dict(errors.most_common()), dict(sorted(asserts.items())))


@dataclass(frozen=True)
class Headline:
    """One row of the headline table: a run's metrics over one split (or over all of them)."""

    label: str
    split: str
    tasks: int
    samples: int
    metrics: Mapping[str, Estimate]


def task_counts(tasks: Sequence[TaskRecord]) -> list[TaskCounts]:
    return [TaskCounts(t.task_id, t.n, t.c) for t in tasks]


def _paper_metrics(tasks: Sequence[TaskRecord]) -> dict[str, Estimate]:
    counts = task_counts(tasks)
    sized = [c.n for c in counts if c.n > 0]
    ks = [k for k in PAPER_KS if sized and k <= min(sized)]
    return summarize(counts, ks=ks) if counts else {}


def headlines(run: RunData) -> list[Headline]:
    """All tasks, then each split when the run spans several (MBPP's ``all``)."""
    splits: dict[str, list[TaskRecord]] = collections.defaultdict(list)
    for t in run.tasks:
        p = run.problems.get(t.task_id)
        splits[p.split if p is not None else run.split].append(t)
    rows = [Headline(run.label, run.split, len(run.tasks), sum(t.n for t in run.tasks), _paper_metrics(run.tasks))]
    if len(splits) > 1:
        rows += [Headline(run.label, name, len(ts), sum(t.n for t in ts), _paper_metrics(ts))
                 for name, ts in sorted(splits.items())]
    return rows


def tokens(text: str) -> int:
    """Words and punctuation marks: a tokenizer-free size that is the same for every model."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class TaskDifficulty:
    task_id: str
    n: int
    c: int
    reference_tokens: int | None
    description_tokens: int | None

    @property
    def rate(self) -> float:
        return self.c / self.n if self.n else 0.0


def difficulty(run: RunData) -> list[TaskDifficulty]:
    out = []
    for t in run.tasks:
        p: Problem | None = run.problems.get(t.task_id)
        out.append(TaskDifficulty(t.task_id, t.n, t.c, tokens(p.reference) if p else None,
                                  tokens(p.text) if p else None))
    return out


@dataclass(frozen=True)
class TaskSets:
    """Tasks worth naming: the hardest (lowest mean pass rate over runs), the unsolved per run, and
    those every run solved."""

    hardest: tuple[tuple[str, float], ...]
    unsolved: Mapping[str, tuple[str, ...]]
    solved_by_all: tuple[str, ...]


def task_sets(runs: Sequence[RunData], most: int = 15) -> TaskSets:
    rates: dict[str, list[float]] = collections.defaultdict(list)
    for run in runs:
        for t in run.tasks:
            if t.n:
                rates[t.task_id].append(t.c / t.n)
    common = [tid for tid, r in rates.items() if len(r) == len(runs)]
    mean = sorted(((tid, sum(rates[tid]) / len(runs)) for tid in common), key=lambda x: (x[1], x[0]))
    unsolved = {run.label: tuple(t.task_id for t in run.tasks if t.n and not t.c) for run in runs}
    solved = tuple(tid for tid in common if all(r > 0 for r in rates[tid]))
    return TaskSets(tuple(mean[:most]), unsolved, solved)


@dataclass(frozen=True)
class ChallengeMiss:
    """A sample that passes the shown asserts but fails MBPP's held-out challenge tests."""

    task_id: str
    sample_idx: int
    status: Status
    failed_test: int | None
    message: str


@dataclass(frozen=True)
class Hardcoded:
    """A sample whose program hard-codes asserted outputs (``progsynth.report.hardcode``);
    ``passed`` tells whether it passes the shown tests all the same."""

    task_id: str
    sample_idx: int
    passed: bool
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Overfitting:
    """The paper's two overfitting checks for one run."""

    label: str
    challenge_judged: int  # samples that pass the shown tests and have challenge verdicts
    challenge_misses: tuple[ChallengeMiss, ...]
    programs_checked: int
    hardcoded: tuple[Hardcoded, ...]

    @property
    def hardcoded_passing(self) -> int:
        return sum(h.passed for h in self.hardcoded)


def _challenge(task: TaskRecord) -> tuple[int, list[ChallengeMiss]]:
    judged, misses = 0, []
    for idx, rec in task.tests.items():
        ch = task.challenge.get(idx)
        if not rec.verdict.passed or ch is None:
            continue
        judged += 1
        if not ch.verdict.passed:
            v = ch.verdict
            misses.append(ChallengeMiss(task.task_id, idx, v.status, v.failed_test, v.message[:300]))
    return judged, misses


def hardcoded_in(task: TaskRecord, problem: Problem | None, oracle: Oracle | None = None) -> list[Hardcoded]:
    """Hard-coding findings of a task's samples, each distinct program parsed once."""
    if problem is None:
        return []
    oracle = oracle or build_oracle(problem.tests, problem.challenge_tests, problem.text)
    seen: dict[str, tuple[Finding, ...]] = {}
    out = []
    for s in task.samples:
        program = problem.prompt_prefix + s.completion
        if program not in seen:
            seen[program] = detect(program, oracle)
        if seen[program]:
            rec = task.tests.get(s.sample_idx)
            out.append(Hardcoded(task.task_id, s.sample_idx, rec is not None and rec.verdict.passed, seen[program]))
    return out


def overfitting(run: RunData) -> Overfitting:
    judged, misses, hard, checked = 0, [], [], 0
    for task in run.tasks:
        j, m = _challenge(task)
        judged += j
        misses += m
        problem = run.problems.get(task.task_id)
        checked += len(task.samples) if problem is not None else 0
        hard += hardcoded_in(task, problem)
    return Overfitting(run.label, judged, tuple(misses), checked, tuple(hard))
