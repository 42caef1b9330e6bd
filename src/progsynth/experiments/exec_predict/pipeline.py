"""``progsynth exec-predict`` end to end: problems -> facts (sandbox) -> prompts -> predictions -> results.

The selection, data, limits and backend settings are an ordinary ``RunConfig`` (so task ids, limits
and the default executor follow the run's rules), with the conditions and shot count beside it. The
output directory holds ``facts.jsonl``, ``predictions.jsonl``, ``exec_predict-config.json`` (the
settings a resume must match) and ``exec_predict.json``; each stage reads what the previous wrote,
so an interrupted command resumes where it stopped.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.backends import create_backend
from progsynth.backends.base import Backend
from progsynth.benchmarks import Benchmark, get_benchmark
from progsynth.errors import DataError, UsageError
from progsynth.experiments.exec_predict.facts import FACTS_FILE, Fact, FactStore, compute_facts
from progsynth.experiments.exec_predict.predictions import PREDICTIONS_FILE, PredictionStore, score
from progsynth.experiments.exec_predict.prompts import FEW_SHOTS, STOP, Condition, ShotExample, build_prompt
from progsynth.experiments.exec_predict.results import RESULTS_FILE, ExecPredictResults, build_results
from progsynth.machine import environment
from progsynth.prompts import choose_shots, prompt_hash
from progsynth.run.config import RunConfig, to_jsonable
from progsynth.run.pipeline import ExecutorFactory, default_executor, select_problems
from progsynth.run.progress import Progress
from progsynth.store.jsonl import write_json_atomic
from progsynth.types import GenerationRequest, Problem

CONFIG_FILE = "exec_predict-config.json"
BENCHMARKS = ("mbpp", "mbpp-sanitized")


@dataclass(frozen=True)
class ExecPredictConfig:
    """A run's selection and model (``run``; its sampling is greedy, stopped at the newline) plus
    the conditions to evaluate and the FEW_SHOT shot count."""

    run: RunConfig
    conditions: tuple[Condition, ...] = tuple(Condition)
    shots: int = FEW_SHOTS

    def __post_init__(self) -> None:
        if self.run.out_dir is None:
            raise UsageError("exec-predict needs an output directory (--out DIR)")
        if self.run.benchmark not in BENCHMARKS:
            raise UsageError(f"exec-predict runs on {' or '.join(BENCHMARKS)}, not {self.run.benchmark}")
        if not self.conditions:
            raise UsageError("choose at least one --condition")
        if not 1 <= self.shots <= 10:
            raise UsageError(f"--shots must be between 1 and 10, got {self.shots}")

    @property
    def out_dir(self) -> Path:
        assert self.run.out_dir is not None  # checked in __post_init__
        return self.run.out_dir

    def identity(self, split: str) -> dict[str, Any]:
        """What a resumed directory must match (conditions may be added; the model may not change)."""
        sampling = to_jsonable(self.run.sampling)
        sampling.pop("n", None)
        return {"benchmark": self.run.benchmark, "split": split, "backend": self.run.backend,
                "options": to_jsonable(self.run.backend_options), "sampling": sampling, "shots": self.shots}


@dataclass(frozen=True)
class ExecPredictOutput:
    document: ExecPredictResults
    out_dir: Path

    @property
    def results_path(self) -> Path:
        return self.out_dir / RESULTS_FILE


def prepare_out(cfg: ExecPredictConfig, split: str) -> None:
    """Start over (``fresh``) or check that the directory holds the same model and settings."""
    out = cfg.out_dir
    if cfg.run.fresh:
        for name in (FACTS_FILE, PREDICTIONS_FILE, RESULTS_FILE, CONFIG_FILE):
            (out / name).unlink(missing_ok=True)
    recorded = out / CONFIG_FILE
    ours = cfg.identity(split)
    if recorded.is_file():
        try:
            theirs = json.loads(recorded.read_text())
        except ValueError as exc:
            raise DataError(recorded, f"invalid JSON ({exc})") from None
        changed = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if changed:
            raise UsageError(f"{out} holds exec-predict results with other settings ({', '.join(changed)}); "
                             "rerun with the same options, or pass --fresh or another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(recorded, ours)


def shot_problems(bench: Benchmark, cfg: ExecPredictConfig, problems: Sequence[Problem]) -> dict[str, Problem]:
    """The prompt-pool tasks FEW_SHOT prompts may show (none without that condition)."""
    if Condition.FEW_SHOT not in cfg.conditions:
        return {}
    pool = bench.shot_pool(cfg.run.split or bench.default_split, cfg.run.data)
    everything = {p.task_id: p for p in bench.all_problems(cfg.run.data)}
    return {t: everything[t] for t in pool[: cfg.shots + 1] if t in everything}


def ensure_facts(store: FactStore, problems: Sequence[Problem], cfg: ExecPredictConfig, bench: Benchmark,
                 factory: ExecutorFactory) -> None:
    """Compute (in the sandbox) the facts of every task that has none stored yet."""
    missing = [p for p in problems if not store.has_task(p)]
    if not missing:
        return
    hidden = (*bench.data_paths(cfg.run.data), cfg.out_dir.resolve())
    with factory(cfg.run, hidden) as executor:
        store.extend(compute_facts(executor, missing, cfg.run.limits))


def _shots_for(problem: Problem, shots: dict[str, Problem], store: FactStore, count: int) -> list[ShotExample]:
    chosen = choose_shots(problem.task_id, list(shots), None, min(count, max(len(shots) - 1, 0)))
    out = []
    for task in chosen:
        usable = [f for f in store.of_task(task) if f.kind.usable]
        if usable:
            out.append(ShotExample(shots[task], usable[0]))
    return out


def work_items(cfg: ExecPredictConfig, problems: Sequence[Problem], shots: dict[str, Problem], facts: FactStore,
               preds: PredictionStore) -> Iterator[tuple[Condition, Fact, GenerationRequest]]:
    """Every (condition, usable fact) without a stored prediction, with its request."""
    params = replace(cfg.run.sampling, n=1, stop=STOP)
    for condition in cfg.conditions:
        for problem in problems:
            task_facts = facts.of_task(problem.task_id)
            usable = [f for f in task_facts if f.kind.usable]
            examples = _shots_for(problem, shots, facts, cfg.shots) if condition is Condition.FEW_SHOT else []
            for fact in usable:
                if not preds.has(condition, fact):
                    prompt = build_prompt(problem, fact, condition, others=usable, shots=examples)
                    yield condition, fact, GenerationRequest(problem, prompt, params)


def predict(model: Backend, items: list[tuple[Condition, Fact, GenerationRequest]], store: PredictionStore,
            progress: Progress) -> None:
    """Ask the model for every item and store each scored prediction as it arrives."""
    by_request = {id(request): (condition, fact) for condition, fact, request in items}
    for request, completions in model.generate_many(request for _, _, request in items):
        condition, fact = by_request[id(request)]
        prediction = score(fact, condition, completions[0], prompt_hash(request.prompt))
        store.add(prediction)
        progress.advance(tasks=1, samples=1, tokens=prediction.tokens or 0)
        progress.judged_one(prediction.exact)


def _predict_all(cfg: ExecPredictConfig, items: list[tuple[Condition, Fact, GenerationRequest]],
                 preds: PredictionStore, backend: Backend | None, show_progress: bool) -> dict[str, Any]:
    """Predict the missing items; the model's description for the results. A finished directory
    does not load the model again: its description is the one already recorded."""
    previous = cfg.out_dir / RESULTS_FILE
    if not items and backend is None and previous.is_file():
        recorded = ExecPredictResults.from_json(json.loads(previous.read_text()), previous)
        return dict(recorded.model)
    model = backend if backend is not None else create_backend(cfg.run.backend, **cfg.run.backend_options)
    try:
        progress = Progress("exec-predict", len(items), enabled=show_progress and bool(items))
        try:
            predict(model, items, preds, progress)
        finally:
            progress.finish()
        described: dict[str, Any] = to_jsonable(model.describe())
        return described
    finally:
        if backend is None:
            model.close()


def exec_predict(cfg: ExecPredictConfig, *, backend: Backend | None = None,
                 executor_factory: ExecutorFactory = default_executor, show_progress: bool = True) -> ExecPredictOutput:
    """Facts, predictions and results (resuming); ``backend`` given: the caller owns and closes it."""
    started = time.monotonic()
    bench = get_benchmark(cfg.run.benchmark, **cfg.run.benchmark_options)
    split = cfg.run.split or bench.default_split
    problems = select_problems(bench, cfg.run)
    if not problems:
        raise UsageError(f"no {bench.name} tasks selected in split '{split}'")
    prepare_out(cfg, split)
    shots = shot_problems(bench, cfg, problems)
    with FactStore(cfg.out_dir / FACTS_FILE) as facts, PredictionStore(cfg.out_dir / PREDICTIONS_FILE) as preds:
        ensure_facts(facts, [*problems, *(p for t, p in shots.items() if t not in {q.task_id for q in problems})],
                     cfg, bench, executor_factory)
        items = list(work_items(cfg, problems, shots, facts, preds))
        described = _predict_all(cfg, items, preds, backend, show_progress)
        evaluated = [f for p in problems for f in facts.of_task(p.task_id)]
        document = build_results(
            datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            {**cfg.identity(split), "conditions": [c.value for c in cfg.conditions], "limit": cfg.run.limit,
             "task_ids": list(cfg.run.task_ids), "tasks": [p.task_id for p in problems],
             "model_provenance": to_jsonable(cfg.run.model_provenance)},
            described, evaluated, preds.predictions.values(), cfg.conditions,
            round(time.monotonic() - started, 2), environment())
    write_json_atomic(cfg.out_dir / RESULTS_FILE, document.to_json())
    return ExecPredictOutput(document, cfg.out_dir)

