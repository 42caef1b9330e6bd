"""Running a sweep: plan the cells, say what it will cost, run what is not done, keep the summary.

Each cell is ``Run(cfg).generate_and_judge(backend)`` on its own run directory, so the run's own
resume does the fine-grained work (a killed cell continues from its samples file). On top of that a
cell whose results already cover every selected task with enough samples is never touched again:
not regenerated, not re-judged. One backend stays open across consecutive cells that use the same
backend and options, so a model is not reloaded for every cell of it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.backends import create_backend
from progsynth.backends.base import Backend
from progsynth.backends.models import registered
from progsynth.benchmarks.base import DataConfig
from progsynth.errors import DataError, ProgsynthError
from progsynth.experiments.sweep.cells import Cell, expand, order
from progsynth.experiments.sweep.config import SweepConfig
from progsynth.experiments.sweep.cost import CellWork, CostEstimate, estimate
from progsynth.experiments.sweep.results import CellRecord, CellStatus, SweepSummary, read_summary
from progsynth.run.config import to_jsonable
from progsynth.run.pipeline import ExecutorFactory, Run, default_executor
from progsynth.store import RESULTS_FILE
from progsynth.store.results import Results

Echo = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Planned:
    """A cell with its run (problems selected) and its results when it is already done."""

    cell: Cell
    run: Run
    results: Results | None

    @property
    def done(self) -> bool:
        return self.results is not None


def finished_results(run: Run) -> Results | None:
    """The run's results when they cover every selected task with at least ``n`` samples."""
    path = run.out_dir / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        results = Results.from_json(json.loads(path.read_text(encoding="utf-8")), path)
    except (ValueError, DataError):
        return None  # a damaged results file: the run resumes and writes it again
    have = {t.task_id: t.n for t in results.per_task}
    complete = all(have.get(task, 0) >= run.cfg.sampling.n for task in run.by_id)
    return results if complete and not results.incomplete_tasks else None


def record(planned: Planned, status: CellStatus | None = None, error: str | None = None) -> CellRecord:
    cell, results = planned.cell, planned.results
    pass1 = results.overall.metrics.get("pass@1") if results is not None else None
    config = {**cell.run.identity(cell.split), "limit": cell.run.limit, "task_ids": list(cell.run.task_ids)}
    return CellRecord(
        cell.name, str(cell.out_dir), cell.values, to_jsonable(config), cell.model_name, cell.family, cell.params,
        cell.protocol, status or (CellStatus.DONE if results is not None else CellStatus.PENDING), pass1,
        results.overall.tasks if results else 0, results.overall.samples if results else 0,
        results.info.wall_s if results else None, error, cell.command())


class Sweep:
    """A configured sweep writing to ``out_dir`` (``DIR/sweep.json`` and ``DIR/cells/*``)."""

    def __init__(self, config: SweepConfig, out_dir: Path, *, data: DataConfig | None = None,
                 executor_factory: ExecutorFactory = default_executor, show_progress: bool = True,
                 echo: Echo = _stderr) -> None:
        self.config = config
        self.out_dir = out_dir
        self.cells = order(expand(config, out_dir, data))
        self.executor_factory = executor_factory
        self.show_progress = show_progress
        self.echo = echo
        self.errors: dict[str, str] = {}

    def plan(self) -> list[Planned]:
        """Every cell with its selected problems and, if it is done, its results (reads only)."""
        planned = []
        for cell in self.cells:
            run = Run(cell.run, executor_factory=self.executor_factory, show_progress=self.show_progress)
            planned.append(Planned(cell, run, finished_results(run)))
        return planned

    def cost(self, planned: list[Planned]) -> CostEstimate:
        work = [self._work(p) for p in planned]
        return estimate(work, self._measured())

    def _work(self, p: Planned) -> CellWork:
        problems = p.run.problems
        prompts = [p.run.bench.prompt(q, p.cell.run.prompt, p.cell.run.data) for q in problems[:2]]
        shared = len(os.path.commonprefix(prompts)) if len(prompts) == 2 else 0
        delay = float(p.cell.run.backend_options.get("delay_s", 0.0))
        return CellWork(p.cell.name, p.cell.model_name, p.cell.run.backend, len(problems), p.cell.run.sampling.n,
                        len(prompts[0]) - shared if prompts else 0, p.done, delay, shared)

    def _measured(self) -> dict[str, float]:
        """Seconds per sample of each model, from the cells of a previous start that finished."""
        try:
            previous = read_summary(self.out_dir)
        except DataError:
            return {}
        spent: dict[str, list[float]] = {}
        for c in previous.cells:
            if c.status is CellStatus.DONE and c.run_time_s and c.samples:
                spent.setdefault(c.model, [0.0, 0.0])
                spent[c.model][0] += c.run_time_s
                spent[c.model][1] += c.samples
        return {m: s / n for m, (s, n) in spent.items()}

    def summary(self, planned: list[Planned]) -> SweepSummary:
        records = tuple(record(p, CellStatus.FAILED if p.cell.name in self.errors else None,
                               self.errors.get(p.cell.name)) for p in planned)
        models = {p.cell.model_name: spec.to_json() for p in planned
                  if p.cell.run.backend == "llamacpp" and (spec := registered(p.cell.model.model))}
        return SweepSummary(self.config.name, str(self.config.path), self.config.axes, records, models)

    def run(self, planned: list[Planned]) -> SweepSummary:
        """Run every cell that is not done, in order, rewriting the summary after each one."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.summary(planned).write(self.out_dir)
        todo = [i for i, p in enumerate(planned) if not p.done]
        models = _Models()
        try:
            for step, i in enumerate(todo, 1):
                planned[i] = self._run_cell(planned[i], models, f"[{step}/{len(todo)}]")
                self.summary(planned).write(self.out_dir)
        finally:
            models.close()
            self.summary(planned).write(self.out_dir)
        return self.summary(planned)

    def _run_cell(self, planned: Planned, models: _Models, step: str) -> Planned:
        cell = planned.cell
        self.echo(f"{step} {cell.name}")
        started = time.monotonic()
        try:
            out = planned.run.generate_and_judge(models.get(cell))
        except ProgsynthError as exc:
            self.errors[cell.name] = exc.message
            self.echo(f"{step} {cell.name}: failed: {exc.message}")
            return planned
        self.errors.pop(cell.name, None)
        p1 = out.document.overall.metrics.get("pass@1")
        score = f"pass@1 {p1.value:.3f} [{p1.low:.3f}, {p1.high:.3f}]" if p1 else "no score"
        self.echo(f"{step} {cell.name}: {score} ({time.monotonic() - started:.1f} s)")
        return replace(planned, results=out.document)


class _Models:
    """The one open backend, kept across consecutive cells with the same backend and options so a
    model is not reloaded for each of its cells; created on first use (a run of done cells loads
    nothing, and a model that fails to load is one failed cell)."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.backend: Backend | None = None

    def get(self, cell: Cell) -> Backend:
        key = json.dumps([cell.run.backend, to_jsonable(cell.run.backend_options)], sort_keys=True, default=str)
        if self.backend is None or key != self.key:
            self.close()
            self.backend = create_backend(cell.run.backend, **dict(cell.run.backend_options))
            self.key = key
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
        self.backend, self.key = None, None


def prepare(config: SweepConfig, out_dir: Path, **kwargs: Any) -> tuple[Sweep, list[Planned]]:
    """The sweep and its plan (used by the CLI and the tests)."""
    sweep = Sweep(config, out_dir, **kwargs)
    return sweep, sweep.plan()
