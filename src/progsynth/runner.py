"""A run end to end: problems -> prompts -> samples -> verdicts -> results.

A run directory holds ``samples.jsonl`` (+ header), ``verdicts.jsonl`` and ``results.json``.
Each stage reads and writes only those files, so a run can be interrupted at any moment and the
same command resumes it; ``evaluate`` re-judges a samples file made anywhere else.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.backends import create_backend
from progsynth.benchmarks import Benchmark, get_benchmark
from progsynth.config import RunConfig, to_jsonable
from progsynth.errors import UsageError
from progsynth.execution.api import Executor
from progsynth.jsonl import write_json_atomic
from progsynth.progress import Progress
from progsynth.results import build_results
from progsynth.samples import SampleStore, read_samples
from progsynth.stages import Job, Judge, existing_samples, generate, jobs_for
from progsynth.types import Problem, Sample
from progsynth.verdict_store import VerdictStore
from progsynth.verdicts import Verdict

SAMPLES = "samples.jsonl"
VERDICTS = "verdicts.jsonl"
RESULTS = "results.json"

ExecutorFactory = Callable[[RunConfig], AbstractContextManager[Executor]]


@dataclass(frozen=True)
class RunOutput:
    results: dict[str, Any]
    out_dir: Path

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS


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


def default_executor(cfg: RunConfig) -> AbstractContextManager[Executor]:
    """The sandboxed worker pool, started in a small process of its own (never forked from here)."""
    from progsynth.execution import create_executor

    executor: AbstractContextManager[Executor] = create_executor(limits=cfg.limits, workers=cfg.workers)
    return executor


def _header(cfg: RunConfig, bench: Benchmark, model: str) -> dict[str, Any]:
    sampling = to_jsonable(cfg.sampling)
    sampling.pop("n", None)  # more samples may be added to a run later
    return {
        "benchmark": bench.name,
        "split": cfg.split or bench.default_split,
        "backend": cfg.backend,
        "model": model,
        "sampling": sampling,
        "prompt": to_jsonable(cfg.prompt),
    }


def _prepare_out(cfg: RunConfig) -> None:
    if cfg.fresh and cfg.out_dir.exists():
        for name in (SAMPLES, SAMPLES + ".header.json", VERDICTS, RESULTS):
            (cfg.out_dir / name).unlink(missing_ok=True)
    cfg.out_dir.mkdir(parents=True, exist_ok=True)


def _protections(executor: Executor) -> Any:
    return to_jsonable(getattr(executor, "protections", {}))


def run(cfg: RunConfig, *, executor_factory: ExecutorFactory = default_executor, show_progress: bool = True,
        backend: Any = None) -> RunOutput:
    """Generate (resuming), judge and score; writes the run directory and returns the results."""
    bench = get_benchmark(cfg.benchmark, **cfg.benchmark_options)
    problems = select_problems(bench, cfg)
    sampling = replace(cfg.sampling, stop=bench.stop_sequences(cfg.prompt))
    _prepare_out(cfg)
    started = time.monotonic()
    model = backend if backend is not None else create_backend(cfg.backend, **cfg.backend_options)
    try:
        header = _header(cfg, bench, model.name)
        with SampleStore(cfg.out_dir / SAMPLES, header) as store, executor_factory(cfg) as executor:
            vstore = VerdictStore(cfg.out_dir / VERDICTS)
            try:
                _generate_and_judge(cfg, bench, problems, sampling, model, store, vstore, executor, show_progress)
            finally:
                vstore.close()
            extra = {
                "backend": _describe(model),
                "sandbox": _protections(executor),
                "timing": {"wall_s": round(time.monotonic() - started, 2)},
            }
            samples = existing_samples(store, {p.task_id: p for p in problems}, sampling.n)
            results = build_results(_config_json(cfg, bench, sampling), problems, vstore.records, samples,
                                    sampling.n, extra)
    finally:
        close = getattr(model, "close", None)
        if callable(close) and backend is None:
            close()
    write_json_atomic(cfg.out_dir / RESULTS, results)
    return RunOutput(results, cfg.out_dir)


def _describe(model: Any) -> Any:
    describe = getattr(model, "describe", None)
    return to_jsonable(describe()) if callable(describe) else {"name": model.name}


def _config_json(cfg: RunConfig, bench: Benchmark, sampling: Any) -> dict[str, Any]:
    out: dict[str, Any] = to_jsonable(replace(cfg, sampling=sampling))
    out["split"] = cfg.split or bench.default_split
    out.pop("fresh", None)
    return out


def _generate_and_judge(cfg: RunConfig, bench: Benchmark, problems: Sequence[Problem], sampling: Any,
                        model: Any, store: SampleStore, vstore: VerdictStore, executor: Executor,
                        show_progress: bool) -> None:
    by_id = {p.task_id: p for p in problems}
    progress = Progress("run", len(problems), enabled=show_progress)

    def on_verdict(job: Job, verdict: Verdict) -> None:
        progress.judged_one(verdict.passed)

    judge = Judge(executor, vstore, on_verdict)
    judge.start()
    try:
        for sample in existing_samples(store, by_id, sampling.n):
            judge.submit(jobs_for(bench, by_id[sample.task_id], sample, cfg.limits, cfg.challenge))
        progress.advance(tasks=sum(store.count(p.task_id) >= sampling.n for p in problems))
        work = ((p, bench.prompt(p, cfg.prompt, cfg.data)) for p in problems if store.count(p.task_id) < sampling.n)
        for problem, samples in generate(model, bench, work, sampling, store, cfg.prompt.style):
            for sample in samples:
                judge.submit(jobs_for(bench, problem, sample, cfg.limits, cfg.challenge))
            progress.advance(tasks=1, samples=len(samples), tokens=sum(s.tokens or 0 for s in samples))
    finally:
        judge.close()
        progress.finish()


def evaluate(samples_path: Path, cfg: RunConfig, *, executor_factory: ExecutorFactory = default_executor,
             show_progress: bool = True) -> RunOutput:
    """Judge and score an existing samples file (from progsynth or another harness)."""
    bench = get_benchmark(cfg.benchmark, **cfg.benchmark_options)
    problems = select_problems(bench, cfg)
    by_id = {p.task_id: p for p in problems}
    lines = read_samples(samples_path, bench.normalize_task_id)
    samples = [item.sample for item in lines if item.sample.task_id in by_id]
    if not samples:
        split = cfg.split or bench.default_split
        raise UsageError(f"{samples_path}: no sample belongs to {bench.name} split '{split}'")
    n = max(s.sample_idx for s in samples) + 1
    _prepare_out(cfg)
    if (cfg.out_dir / SAMPLES).resolve() != samples_path.resolve():
        shutil.copyfile(samples_path, cfg.out_dir / "evaluated_samples.jsonl")
    started = time.monotonic()
    progress = Progress("evaluate", len(problems), enabled=show_progress)
    with executor_factory(cfg) as executor:
        vstore = VerdictStore(cfg.out_dir / VERDICTS)
        judge = Judge(executor, vstore, lambda job, v: progress.judged_one(v.passed))
        judge.start()
        try:
            for s in samples:
                judge.submit(jobs_for(bench, by_id[s.task_id], s, cfg.limits, cfg.challenge))
        finally:
            judge.close()
            vstore.close()
            progress.finish()
        extra = {"samples_file": str(samples_path), "sandbox": _protections(executor),
                 "timing": {"wall_s": round(time.monotonic() - started, 2)}}
    results = build_results(_config_json(cfg, bench, cfg.sampling), problems, vstore.records, samples, n, extra)
    write_json_atomic(cfg.out_dir / RESULTS, results)
    return RunOutput(results, cfg.out_dir)


def all_samples(store: SampleStore) -> list[Sample]:
    return [s for _, s in sorted(store.samples.items())]
