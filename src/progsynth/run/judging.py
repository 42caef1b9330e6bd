"""The judging stage: execute samples against their tests and store the verdicts.

It runs in a background thread fed by a queue, so the executor's worker pool tests finished samples
while the model is still generating the next task's. (In ``execution`` the *judge* is what evaluates
one program's tests; this stage only feeds the executor and records what it answers.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from progsynth.benchmarks.base import Benchmark
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.store.verdicts import Suite, VerdictRecord, VerdictStore, program_hash
from progsynth.types import Problem, Sample
from progsynth.verdicts import Status, Verdict

LOST_MESSAGE = "executor returned no verdict"


@dataclass(frozen=True)
class ExecJob:
    """One program to execute for one sample and suite."""

    task_id: str
    sample_idx: int
    suite: Suite
    request: ExecRequest

    @property
    def program_sha(self) -> str:
        return program_hash(self.request.program, self.request.tests, self.request.setup)


def exec_jobs(bench: Benchmark, problem: Problem, sample: Sample, limits: Limits, challenge: bool) -> list[ExecJob]:
    """The execution jobs for a sample: its tests and, where the task has them, challenge tests."""
    program = bench.program(problem, sample.completion)
    suites = [(Suite.TESTS, problem.tests)]
    if challenge and problem.challenge_tests:
        suites.append((Suite.CHALLENGE, problem.challenge_tests))
    jobs = []
    for suite, tests in suites:
        key = f"{sample.task_id}\x00{sample.sample_idx}\x00{suite.value}"
        req = ExecRequest(key=key, program=program, tests=tuple(tests), setup=problem.setup, limits=limits)
        jobs.append(ExecJob(sample.task_id, sample.sample_idx, suite, req))
    return jobs


OnVerdict = Callable[[ExecJob, Verdict], None]


class JudgingStage(threading.Thread):
    """Executes queued jobs in batches and stores their verdicts; ``close()`` drains and waits.

    A job whose program was already judged (same task, sample, suite and program hash) is answered
    from the store; an executor that answers fewer requests than it was given gets a KILLED verdict
    for each missing one, so no sample is ever left unjudged without a trace.
    """

    _STOP = object()

    def __init__(self, executor: Executor, store: VerdictStore, on_verdict: OnVerdict | None = None) -> None:
        super().__init__(name="progsynth-judging", daemon=True)
        self.executor = executor
        self.store = store
        self.on_verdict = on_verdict
        self.queue: queue.Queue[object] = queue.Queue()
        self.error: BaseException | None = None

    def submit(self, jobs: Iterable[ExecJob]) -> None:
        for job in jobs:
            cached = self.store.get(job.task_id, job.sample_idx, job.suite, job.program_sha)
            if cached is not None:
                self._notify(job, cached)
                continue
            self.queue.put(job)

    def run(self) -> None:
        try:
            while True:
                batch, stop = self._next_batch()
                if batch:
                    self._execute(batch)
                if stop:
                    return
        except BaseException as exc:  # surfaced to the caller by close()
            self.error = exc

    def _next_batch(self) -> tuple[list[ExecJob], bool]:
        batch: list[ExecJob] = []
        item = self.queue.get()
        while item is not self._STOP:
            assert isinstance(item, ExecJob)
            batch.append(item)
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _execute(self, batch: list[ExecJob]) -> None:
        by_key = {job.request.key: job for job in batch}
        for key, verdict in self.executor.run(job.request for job in batch):
            job = by_key.pop(key)
            self._record(job, verdict)
        for job in by_key.values():  # an executor must answer every request; never lose one silently
            self._record(job, Verdict(Status.KILLED, message=LOST_MESSAGE))

    def _record(self, job: ExecJob, verdict: Verdict) -> None:
        self.store.add(VerdictRecord(job.task_id, job.sample_idx, job.suite, verdict, job.program_sha))
        self._notify(job, verdict)

    def _notify(self, job: ExecJob, verdict: Verdict) -> None:
        if self.on_verdict is not None and job.suite is Suite.TESTS:
            self.on_verdict(job, verdict)

    def close(self) -> None:
        self.queue.put(self._STOP)
        self.join()
        if self.error is not None:
            raise self.error
