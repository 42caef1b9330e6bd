"""The two long-running stages of a run: generating samples and judging them.

Judging runs in a background thread fed by a queue, so the executor's worker pool tests finished
samples while the model is still generating the next task's.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from progsynth.backends.base import Backend
from progsynth.benchmarks.base import Benchmark, PromptStyle
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.prompts import prompt_hash
from progsynth.samples import SampleStore
from progsynth.types import Completion, FinishReason, GenerationRequest, Problem, Sample, SamplingParams
from progsynth.verdict_store import Suite, VerdictRecord, VerdictStore, program_hash
from progsynth.verdicts import Status, Verdict


@dataclass(frozen=True)
class Job:
    """One program to execute for one sample and suite."""

    task_id: str
    sample_idx: int
    suite: Suite
    request: ExecRequest


def jobs_for(bench: Benchmark, problem: Problem, sample: Sample, limits: Limits, challenge: bool) -> list[Job]:
    """The execution jobs for a sample: its tests and, where the task has them, challenge tests."""
    program = bench.program(problem, sample.completion)
    suites = [(Suite.TESTS, problem.tests)]
    if challenge and problem.challenge_tests:
        suites.append((Suite.CHALLENGE, problem.challenge_tests))
    jobs = []
    for suite, tests in suites:
        key = f"{sample.task_id}\x00{sample.sample_idx}\x00{suite.value}"
        req = ExecRequest(key=key, program=program, tests=tuple(tests), setup=problem.setup, limits=limits)
        jobs.append(Job(sample.task_id, sample.sample_idx, suite, req))
    return jobs


def job_sha(job: Job) -> str:
    return program_hash(job.request.program, job.request.tests, job.request.setup)


class Judge(threading.Thread):
    """Executes queued jobs in batches and stores their verdicts; ``close()`` drains and waits."""

    _STOP = object()

    def __init__(self, executor: Executor, store: VerdictStore,
                 on_verdict: Callable[[Job, Verdict], None] | None = None) -> None:
        super().__init__(name="progsynth-judge", daemon=True)
        self.executor = executor
        self.store = store
        self.on_verdict = on_verdict
        self.queue: queue.Queue[object] = queue.Queue()
        self.error: BaseException | None = None

    def submit(self, jobs: Iterable[Job]) -> None:
        for job in jobs:
            sha = job_sha(job)
            cached = self.store.get(job.task_id, job.sample_idx, job.suite, sha)
            if cached is not None:
                if self.on_verdict and job.suite is Suite.TESTS:
                    self.on_verdict(job, cached)
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

    def _next_batch(self) -> tuple[list[Job], bool]:
        first = self.queue.get()
        if first is self._STOP:
            return [], True
        batch = [first]
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return batch, False  # type: ignore[return-value]
            if item is self._STOP:
                return batch, True  # type: ignore[return-value]
            batch.append(item)

    def _execute(self, batch: list[Job]) -> None:
        by_key = {job.request.key: job for job in batch}
        for key, verdict in self.executor.run(job.request for job in batch):
            job = by_key.pop(key)
            self.store.add(VerdictRecord(job.task_id, job.sample_idx, job.suite, verdict, job_sha(job)))
            if self.on_verdict and job.suite is Suite.TESTS:
                self.on_verdict(job, verdict)
        for job in by_key.values():  # an executor must answer every request; never lose one silently
            lost = Verdict(Status.KILLED, message="executor returned no verdict")
            self.store.add(VerdictRecord(job.task_id, job.sample_idx, job.suite, lost, job_sha(job)))

    def close(self) -> None:
        self.queue.put(self._STOP)
        self.join()
        if self.error is not None:
            raise self.error


def _to_sample(bench: Benchmark, style: PromptStyle, problem: Problem, comp: Completion, idx: int, model: str,
               phash: str) -> Sample:
    if comp.finish_reason is FinishReason.REFERENCE:
        completion = comp.text
    elif comp.finish_reason is FinishReason.ERROR:
        completion = ""
    else:
        completion = bench.extract(problem, comp.text, style)
    raw = comp.text if comp.error is None else f"{comp.text}\n[generation error] {comp.error}"
    return Sample(problem.task_id, completion, idx, model, phash, raw, comp.finish_reason, comp.tokens)


def generate(
    backend: Backend,
    bench: Benchmark,
    work: Iterable[tuple[Problem, str]],
    params: SamplingParams,
    store: SampleStore,
    style: PromptStyle = PromptStyle.PAPER,
) -> Iterator[tuple[Problem, list[Sample]]]:
    """Generate the missing samples of each (problem, prompt) and store them as they arrive.

    Yields each task's new samples so the caller can queue them for judging. Tasks that already
    have ``params.n`` samples are skipped (resume), and a task never gets more than ``n``.
    """
    requests = []
    for problem, prompt in work:
        have = store.count(problem.task_id)
        if have < params.n:
            requests.append(GenerationRequest(problem, prompt, replace(params, n=params.n - have), have))
    for request, completions in _generate_all(backend, requests):
        phash = prompt_hash(request.prompt)
        samples = [
            _to_sample(bench, style, request.problem, comp, request.first_idx + i, backend.name, phash)
            for i, comp in enumerate(completions[: request.params.n])
        ]
        store.extend(samples)
        yield request.problem, samples


def _generate_all(
    backend: Backend, requests: list[GenerationRequest]
) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
    many = getattr(backend, "generate_many", None)
    if callable(many):
        yield from many(requests)
        return
    for request in requests:
        yield request, backend.generate(request)


def existing_samples(store: SampleStore, problems: Mapping[str, Problem], n: int) -> list[Sample]:
    """Stored samples of the selected tasks, at most ``n`` per task (for resumed judging)."""
    return [s for (tid, idx), s in sorted(store.samples.items()) if tid in problems and idx < n]
