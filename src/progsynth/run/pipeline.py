"""A run end to end: problems -> prompts -> samples -> verdicts -> results.

A run directory holds ``samples.jsonl`` (+ header), ``verdicts.jsonl`` and ``results.json``. Each stage
reads and writes only those files, so a run can be interrupted at any moment and the same command
resumes it. ``Run`` has two entry points that share one store/judge/results sequence:
``generate_and_judge`` (a model writes the samples) and ``judge_file`` (a samples file made anywhere
else is executed and scored).
"""

from __future__ import annotations

import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.backends import create_backend
from progsynth.backends.base import Backend
from progsynth.backends.common import header_line
from progsynth.benchmarks import Benchmark, get_benchmark
from progsynth.errors import InputWarning, UsageError
from progsynth.execution.adaptive import AdaptiveTimeouts, Calibration, calibrate
from progsynth.execution.api import ExecRequest, Executor
from progsynth.machine import environment
from progsynth.run.config import RunConfig, to_jsonable
from progsynth.run.generation import generate, stored_samples
from progsynth.run.judging import ExecJob, JudgingStage, exec_jobs
from progsynth.run.progress import Progress
from progsynth.store import RESULTS_FILE, SAMPLES_FILE, VERDICTS_FILE
from progsynth.store.jsonl import write_json_atomic
from progsynth.store.results import Results, RunInfo, build_results
from progsynth.store.samples import SampleStore, header_path, read_samples
from progsynth.store.verdicts import VerdictStore
from progsynth.types import Problem, Sample, SamplingParams
from progsynth.verdicts import Verdict

#: Starts the executor for a run; gets the configuration and the paths its programs must not read.
ExecutorFactory = Callable[[RunConfig, tuple[Path, ...]], Executor]
#: Feeds the judging stage and returns the samples the results are computed over.
Feed = Callable[[JudgingStage, Progress], list[Sample]]


@dataclass(frozen=True)
class RunOutput:
    """What a finished run returns: the typed document, its JSON form and where it was written."""

    document: Results
    results: dict[str, Any]
    out_dir: Path

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS_FILE


def default_executor(cfg: RunConfig, hidden: tuple[Path, ...]) -> Executor:
    """The sandboxed worker pool, started in a small process of its own (never forked from here),
    with ``hidden`` (the benchmark's data, the cache, the run's own files) hidden from its programs;
    with ``cfg.ray_address``, the same pool on every node of that Ray cluster (Ray is imported
    only then)."""
    from progsynth.execution import SandboxConfig, create_executor

    sandbox = SandboxConfig(hidden=tuple(str(p) for p in hidden))
    if cfg.ray_address is not None:
        from progsynth.execution.ray import create_ray_executor

        return create_ray_executor(cfg.ray_address, cfg.limits, cfg.workers, sandbox=sandbox)
    return create_executor(limits=cfg.limits, workers=cfg.workers, sandbox=sandbox)


def select_problems(bench: Benchmark, cfg: RunConfig) -> list[Problem]:
    """The problems of the configured split, filtered by task ids and limited."""
    split = cfg.split or bench.default_split
    problems = bench.load(split, cfg.data)  # the benchmark rejects unknown splits ("all" is always known)
    if cfg.task_ids:
        wanted = {bench.normalize_task_id(t) for t in cfg.task_ids}
        problems = [p for p in problems if p.task_id in wanted]
        missing = wanted - {p.task_id for p in problems}
        if missing:
            raise UsageError(f"task ids not in split '{split}': {', '.join(sorted(missing))}")
    return problems[: cfg.limit] if cfg.limit else problems


class Run:
    """One configured run over one benchmark split (see the module docstring)."""

    def __init__(self, cfg: RunConfig, *, executor_factory: ExecutorFactory = default_executor,
                 show_progress: bool = True) -> None:
        self.bench = get_benchmark(cfg.benchmark, **cfg.benchmark_options)
        self.split = cfg.split or self.bench.default_split
        self.out_dir: Path = cfg.resolved_out_dir(self.split)
        self.cfg = replace(cfg, out_dir=self.out_dir)
        self.problems = select_problems(self.bench, self.cfg)
        self.by_id = {p.task_id: p for p in self.problems}
        self.executor_factory = executor_factory
        self.show_progress = show_progress
        self._calibration = Calibration.off()

    # --- the two entry points --------------------------------------------------------------------

    def generate_and_judge(self, backend: Backend | None = None) -> RunOutput:
        """Generate (resuming), judge and score. ``backend`` given: the caller owns (and closes) it."""
        cfg, bench = self.cfg, self.bench
        sampling = replace(cfg.sampling, stop=bench.stop_sequences(cfg.prompt))
        self._prepare_out()
        model = backend if backend is not None else create_backend(cfg.backend, **cfg.backend_options)
        try:
            if self.show_progress:  # the thread choice decides the speed: say it before the wait
                print(f"model {header_line(model.describe())}", file=sys.stderr, flush=True)
            header = cfg.samples_header(self.split, model.name, sampling)
            described: dict[str, Any] = {}  # filled after generation, so changes made during it are kept
            with SampleStore(self.out_dir / SAMPLES_FILE, header) as store:
                def feed(stage: JudgingStage, progress: Progress) -> list[Sample]:
                    self._generate(model, sampling, store, stage, progress)
                    described.update(to_jsonable(model.describe()))
                    return stored_samples(store, self.by_id, sampling.n)

                return self._judge("run", sampling, sampling.n, feed, RunInfo(backend=described))
        finally:
            if backend is None:
                model.close()

    def judge_file(self, samples_path: Path) -> RunOutput:
        """Execute and score an existing samples file (from progsynth or another harness)."""
        torn: list[str] = []

        def on_torn(line: int) -> None:
            torn.append(f"{samples_path}:{line}: the last line is cut short (no newline, not valid JSON); "
                        "it was not scored")
            warnings.warn(torn[-1], InputWarning, stacklevel=2)

        lines = read_samples(samples_path, self.bench.normalize_task_id, on_torn)
        samples = [item.sample for item in lines if item.sample.task_id in self.by_id]
        if not samples:
            raise UsageError(f"{samples_path}: no sample belongs to {self.bench.name} split '{self.split}'")
        self._prepare_out()
        if (self.out_dir / SAMPLES_FILE).resolve() != samples_path.resolve():
            shutil.copyfile(samples_path, self.out_dir / "evaluated_samples.jsonl")

        def feed(stage: JudgingStage, progress: Progress) -> list[Sample]:
            for s in samples:
                stage.submit(self._jobs(s))
            return samples

        n = max(s.sample_idx for s in samples) + 1
        info = RunInfo(samples_file=str(samples_path), input_warnings=tuple(torn))
        return self._judge("evaluate", self.cfg.sampling, n, feed, info, hide=(samples_path,))

    # --- the shared sequence: stores, judging stage, results ---------------------------------------

    def _judge(self, label: str, sampling: SamplingParams, n: int, feed: Feed, info: RunInfo,
               hide: tuple[Path, ...] = ()) -> RunOutput:
        started = time.monotonic()
        hidden = (*self.bench.data_paths(self.cfg.data), self.out_dir.resolve(), *(p.resolve() for p in hide))
        progress = Progress(label, len(self.problems), enabled=self.show_progress)

        def on_verdict(job: ExecJob, verdict: Verdict) -> None:
            progress.judged_one(verdict.passed)

        with self.executor_factory(self.cfg, hidden) as executor, \
                VerdictStore(self.out_dir / VERDICTS_FILE) as vstore:
            self._calibration = self._calibrate(executor)
            stage = JudgingStage(executor, vstore, on_verdict)
            stage.start()
            try:
                samples = feed(stage, progress)
            finally:
                stage.close()
                progress.finish()
            info = replace(info, sandbox=to_jsonable(executor.protections),
                           timeouts=self._calibration.to_json(self.cfg.limits),
                           wall_s=round(time.monotonic() - started, 2))
        document = build_results(self.cfg.results_config(self.split, sampling), environment(), self.problems,
                                 vstore.records, samples, n, info, self.cfg.missing_as_failed)
        results = document.to_json()
        write_json_atomic(self.out_dir / RESULTS_FILE, results)
        return RunOutput(document, results, self.out_dir)

    def _generate(self, model: Backend, sampling: SamplingParams, store: SampleStore, stage: JudgingStage,
                  progress: Progress) -> None:
        """Judge what a previous attempt stored, then generate what is missing, judging as it comes."""
        for sample in stored_samples(store, self.by_id, sampling.n):
            stage.submit(self._jobs(sample))
        progress.advance(tasks=sum(store.count(p.task_id) >= sampling.n for p in self.problems))
        prompts = ((p, self.bench.prompt(p, self.cfg.prompt, self.cfg.data))
                   for p in self.problems if store.count(p.task_id) < sampling.n)
        for _problem, new in generate(model, self.bench, prompts, sampling, store, self.cfg.prompt.style):
            for sample in new:
                stage.submit(self._jobs(sample))
            progress.advance(tasks=1, samples=len(new), tokens=sum(s.tokens or 0 for s in new))

    def _calibrate(self, executor: Executor) -> Calibration:
        """Per-task CPU limits from the references' measured times (cached per machine), so that
        samples that loop forever stop early; off with ``adaptive_timeouts=False``."""
        if not self.cfg.adaptive_timeouts:
            return Calibration.off()
        references = {p.task_id: ExecRequest(p.task_id, self.bench.program(p, p.reference_completion), p.tests,
                                             p.setup, self.cfg.limits) for p in self.problems}
        return calibrate(executor, references, AdaptiveTimeouts(), self.cfg.data.cache_root() / "adaptive-timeouts")

    def _jobs(self, sample: Sample) -> list[ExecJob]:
        problem = self.by_id[sample.task_id]
        program = self.bench.program(problem, sample.completion)  # its imports can raise the floor
        limits = self._calibration.limits_for(sample.task_id, self.cfg.limits, program)
        return exec_jobs(self.bench, problem, sample, limits, self.cfg.challenge)

    def _prepare_out(self) -> None:
        if self.cfg.fresh and self.out_dir.exists():
            for path in (self.out_dir / SAMPLES_FILE, header_path(self.out_dir / SAMPLES_FILE),
                         self.out_dir / VERDICTS_FILE, self.out_dir / RESULTS_FILE):
                path.unlink(missing_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)


def run(cfg: RunConfig, *, executor_factory: ExecutorFactory = default_executor, show_progress: bool = True,
        backend: Backend | None = None) -> RunOutput:
    """Generate (resuming), judge and score; writes the run directory and returns the results."""
    return Run(cfg, executor_factory=executor_factory, show_progress=show_progress).generate_and_judge(backend)


def evaluate(samples_path: Path, cfg: RunConfig, *, executor_factory: ExecutorFactory = default_executor,
             show_progress: bool = True) -> RunOutput:
    """Judge and score an existing samples file (from progsynth or another harness)."""
    return Run(cfg, executor_factory=executor_factory, show_progress=show_progress).judge_file(samples_path)
