"""A run directory read into one typed ``RunData``: the samples, their verdicts, the results
document and, when the benchmark data is at hand, the problems (prompt, reference, description).

Only the run directory's own files are required, so a run made by an older version, or one scored
with ``progsynth evaluate`` from another harness's samples, reports too. Missing pieces degrade to
empty fields plus a note that the report shows, never to an exception: a report of what is there
beats no report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from progsynth.benchmarks import Benchmark, get_benchmark
from progsynth.benchmarks.base import ALL_SPLIT, DataConfig, PromptConfig, PromptStyle
from progsynth.errors import DataError, ProgsynthError
from progsynth.store.jsonl import iter_records
from progsynth.store.results import Results
from progsynth.store.samples import header_path, read_samples
from progsynth.store.verdicts import Suite, VerdictRecord
from progsynth.types import Problem, Sample

#: samples files a run directory may hold: ``run`` writes the first, ``evaluate`` the second
SAMPLES_FILES = ("samples.jsonl", "evaluated_samples.jsonl")


@dataclass(frozen=True)
class TaskRecord:
    """One task of one run: its samples in index order with their verdicts per suite."""

    task_id: str
    samples: tuple[Sample, ...]
    tests: Mapping[int, VerdictRecord]
    challenge: Mapping[int, VerdictRecord]

    @property
    def n(self) -> int:
        return len(self.tests)

    @property
    def c(self) -> int:
        return sum(r.verdict.passed for r in self.tests.values())

    def sample(self, idx: int) -> Sample | None:
        return next((s for s in self.samples if s.sample_idx == idx), None)


@dataclass(frozen=True)
class RunData:
    """Everything the report reads from one run directory."""

    path: Path
    label: str
    config: Mapping[str, Any]
    results: Results | None
    tasks: tuple[TaskRecord, ...]
    problems: Mapping[str, Problem] = field(default_factory=dict)
    prompts: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def benchmark(self) -> str:
        return str(self.config.get("benchmark", "?"))

    @property
    def split(self) -> str:
        return str(self.config.get("split") or "?")

    def task(self, task_id: str) -> TaskRecord | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from None
    return data if isinstance(data, dict) else None


def _read_verdicts(path: Path) -> list[VerdictRecord]:
    if not path.is_file():
        raise DataError(path, "no verdicts.jsonl: not a run directory (run or evaluate writes it)")
    return [VerdictRecord.from_json(path, line, data) for line, data in iter_records(path)]


def _samples_path(run_dir: Path, results: Results | None) -> Path | None:
    for name in SAMPLES_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    if results is not None and results.info.samples_file and Path(results.info.samples_file).is_file():
        return Path(results.info.samples_file)
    return None


def _benchmark(config: Mapping[str, Any], notes: list[str]) -> Benchmark | None:
    try:
        return get_benchmark(str(config.get("benchmark", "")), **dict(config.get("benchmark_options") or {}))
    except ProgsynthError as exc:
        notes.append(f"benchmark unavailable ({exc}); prompts and references are not shown")
        return None


def _normalizer(bench: Benchmark | None) -> Any:
    def normalize(raw: object) -> str:
        if bench is None:
            return str(raw)
        try:
            return bench.normalize_task_id(raw)
        except (KeyError, ValueError):
            return str(raw)
    return normalize


def _prompt_config(config: Mapping[str, Any]) -> PromptConfig:
    raw = dict(config.get("prompt") or {})
    ids = raw.get("shot_ids")
    return PromptConfig(shots=int(raw.get("shots", 3)), shot_ids=tuple(ids) if ids else None,
                        asserts_shown=int(raw.get("asserts_shown", 3)),
                        style=PromptStyle(raw.get("style", PromptStyle.PAPER.value)))


def _problems(bench: Benchmark | None, config: Mapping[str, Any], data: DataConfig | None, task_ids: set[str],
              notes: list[str]) -> tuple[dict[str, Problem], dict[str, str]]:
    """The problems and prompts of the run's tasks, never downloading: a report must open offline."""
    if bench is None or data is None:
        return {}, {}
    offline = replace(data, allow_download=False)
    try:
        problems = {p.task_id: p for p in bench.load(ALL_SPLIT, offline) if p.task_id in task_ids}
    except ProgsynthError as exc:
        notes.append(f"benchmark data unavailable ({exc}); prompts and references are not shown")
        return {}, {}
    prompts: dict[str, str] = {}
    try:
        pcfg = _prompt_config(config)
        prompts = {tid: bench.prompt(p, pcfg, offline) for tid, p in problems.items()}
    except (ProgsynthError, ValueError, TypeError) as exc:
        notes.append(f"prompts could not be rebuilt ({exc})")
    return problems, prompts


def _task_records(records: list[VerdictRecord], samples: list[Sample], order: list[str]) -> tuple[TaskRecord, ...]:
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault(s.task_id, []).append(s)
    tests: dict[str, dict[int, VerdictRecord]] = {}
    challenge: dict[str, dict[int, VerdictRecord]] = {}
    for r in records:
        (tests if r.suite is Suite.TESTS else challenge).setdefault(r.task_id, {})[r.sample_idx] = r
    ids = list(dict.fromkeys([*order, *tests]))
    return tuple(TaskRecord(tid, tuple(sorted(by_task.get(tid, ()), key=lambda s: s.sample_idx)),
                            dict(sorted(tests.get(tid, {}).items())), dict(sorted(challenge.get(tid, {}).items())))
                 for tid in ids)


def load_run(run_dir: Path, data: DataConfig | None = None, label: str | None = None) -> RunData:
    """Read ``run_dir``; ``data`` None skips the benchmark data (no prompts or references)."""
    notes: list[str] = []
    raw_results = _read_json(run_dir / "results.json")
    results = Results.from_json(raw_results, run_dir / "results.json") if raw_results is not None else None
    if results is None:
        notes.append("no results.json: metrics computed from verdicts.jsonl")
    header = _read_json(header_path(run_dir / "samples.jsonl")) or {}
    config: dict[str, Any] = {**header, **(dict(results.config) if results is not None else {})}
    records = _read_verdicts(run_dir / "verdicts.jsonl")
    bench = _benchmark(config, notes) if config.get("benchmark") else None
    samples_file = _samples_path(run_dir, results)
    samples = [line.sample for line in read_samples(samples_file, _normalizer(bench))] if samples_file else []
    if samples_file is None:
        notes.append("no samples file: programs are not shown")
    order = [t.task_id for t in results.per_task] if results is not None else []
    tasks = _task_records(records, samples, order)
    problems, prompts = _problems(bench, config, data, {t.task_id for t in tasks}, notes)
    return RunData(path=run_dir, label=label or run_dir.name, config=config, results=results, tasks=tasks,
                   problems=problems, prompts=prompts, notes=tuple(notes))
