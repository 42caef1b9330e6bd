"""A sweep's cells: each one an ordinary ``RunConfig`` with its own run directory.

A cell's directory is ``DIR/cells/<readable name>-<hash>``, where the hash is the run's identity
(``RunConfig.identity``: benchmark, split, backend and its options, sampling, prompt). The identity
alone decides whether a cell exists already, so growing a grid adds only the new cells and reorders
nothing that is done. Cells run in an order that shows a useful partial picture early (``order``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.backends import DEFAULT_BACKEND, backend_class
from progsynth.backends.models import registered
from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig, PromptStyle
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.errors import DataError, UsageError
from progsynth.execution.api import Limits
from progsynth.experiments.sweep.config import ModelChoice, RandomShots, SweepConfig
from progsynth.protocols import get_protocol, protocol_of
from progsynth.run.config import RunConfig, paper_sampling, to_jsonable

CELLS_DIR = "cells"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One configuration of the sweep, ready to run (``run.out_dir`` is its directory)."""

    name: str
    run: RunConfig
    split: str
    model: ModelChoice
    model_name: str
    params: int | None
    family: str
    protocol: str
    values: Mapping[str, Any]  # the cell's setting of every option the sweep varies, JSON-able

    @property
    def out_dir(self) -> Path:
        assert self.run.out_dir is not None
        return self.run.out_dir

    def command(self) -> str:
        """The ``progsynth run`` line that reproduces (or resumes) this cell alone."""
        r, p, s = self.run, self.run.prompt, self.run.sampling
        parts = ["progsynth run", f"-b {r.benchmark}", f"-s {self.split}", f"--backend {r.backend}"]
        parts += [f"--model {self.model.model}"] if self.model.model else []
        parts += [f"--limit {r.limit}"] if r.limit else []
        parts += [f"--task-id {t}" for t in r.task_ids]
        parts += [f"-n {s.n}", f"-t {s.temperature}", f"--max-tokens {s.max_tokens}", f"--seed {s.seed}"]
        if p.style.is_protocol and self.protocol == p.style.value:
            parts += [f"--protocol {p.style.value}"]
        else:
            parts += [f"--prompt-style {p.style.value}", f"--shots {p.shots}", f"--asserts-shown {p.asserts_shown}"]
            parts += [f"--shot-ids {','.join(p.shot_ids)}"] if p.shot_ids else []
        parts += [f"-O {k}={v}" for k, v in r.backend_options.items() if k not in ("model", "chat")]
        return " ".join(parts + [f"--out {self.out_dir}"])


def identity_hash(cfg: RunConfig, split: str) -> str:
    """The first 10 hex digits of the sha256 of the run's identity (what makes two runs the same)."""
    return hashlib.sha256(json.dumps(cfg.identity(split), sort_keys=True, default=str).encode()).hexdigest()[:10]


def expand(config: SweepConfig, out_dir: Path, data: DataConfig | None = None) -> list[Cell]:
    """Every cell of ``config`` (random shot sets drawn), deduplicated by identity, in file order."""
    data = data or data_config_from_env()
    cells: dict[str, Cell] = {}
    for settings in config.settings():
        for concrete in _draw_shots(config.path, settings, data):
            try:
                cell = build_cell(concrete, config.axes, out_dir, data)
            except UsageError as exc:
                raise DataError(config.path, f"cell {_describe(concrete, config.axes)}: {exc.message}") from None
            cells.setdefault(cell.name, cell)
    return list(cells.values())


def _describe(settings: Mapping[str, Any], axes: Sequence[str]) -> str:
    return ", ".join(f"{k}={_plain(settings.get(k))}" for k in axes) or "(the only cell)"


def _plain(value: Any) -> Any:
    if isinstance(value, ModelChoice):
        return value.label or value.model or value.backend
    return to_jsonable(value)


def _draw_shots(path: Path, settings: dict[str, Any], data: DataConfig) -> list[dict[str, Any]]:
    """A cell whose ``shot_ids`` is a random draw becomes one cell per drawn set."""
    draw = settings.get("shot_ids")
    if not isinstance(draw, RandomShots):
        return [settings]
    bench = get_benchmark(settings.get("benchmark", "mbpp"))
    pool = bench.shot_pool(settings.get("split") or bench.default_split, data)
    sets = list(itertools.combinations(pool, draw.size))
    if draw.count > len(sets):
        raise DataError(path, f"key 'shot_ids': {draw.count} random sets of {draw.size} asked for, but the "
                              f"prompt pool of {len(pool)} tasks has only {len(sets)}")
    chosen = random.Random(draw.seed).sample(sets, draw.count)
    return [{**settings, "shot_ids": tuple(ids)} for ids in chosen]


def _model_choice(settings: Mapping[str, Any]) -> ModelChoice:
    model = settings.get("model")
    backend = str(settings.get("backend", DEFAULT_BACKEND))
    if isinstance(model, ModelChoice):
        return model
    return ModelChoice(backend, None if model is None else str(model))


def _prompt(settings: Mapping[str, Any], benchmark: str) -> tuple[PromptConfig, str]:
    """The prompt configuration: a protocol's preset, with any prompt option the cell sets on top."""
    base = PromptConfig()
    name = settings.get("protocol")
    if name is not None:
        spec = get_protocol(str(name))
        spec.check(benchmark)
        base = spec.prompt_config()
    elif "prompt_style" in settings:
        try:
            base = replace(base, style=PromptStyle(settings["prompt_style"]))
        except ValueError:
            raise UsageError(f"unknown prompt_style {settings['prompt_style']!r}") from None
        if base.style.is_protocol:
            get_protocol(base.style.value).check(benchmark)
    shots = settings.get("shot_ids")
    prompt = PromptConfig(shots=int(settings.get("shots", len(shots) if shots else base.shots)),
                          shot_ids=tuple(shots) if shots else base.shot_ids,
                          asserts_shown=int(settings.get("asserts_shown", base.asserts_shown)), style=base.style)
    exact = protocol_of(prompt)
    return prompt, str(name) if name is not None and exact == name else exact


def build_cell(settings: Mapping[str, Any], axes: Sequence[str], out_dir: Path, data: DataConfig) -> Cell:
    """The cell for one complete setting of the options (UsageError for impossible values)."""
    benchmark = str(settings.get("benchmark", "mbpp"))
    bench = get_benchmark(benchmark)
    split = str(settings.get("split") or bench.default_split)
    choice = _model_choice(settings)
    prompt, protocol = _prompt(settings, benchmark)
    if prompt.shot_ids:
        prompt = replace(prompt, shot_ids=tuple(bench.normalize_task_id(t) for t in prompt.shot_ids))
    options: dict[str, Any] = {"model": choice.model} if choice.model is not None else {}
    options.update(settings.get("backend_options", {}))
    options.update(dict(choice.options))
    if prompt.style.is_chat and backend_class(choice.backend).supports_chat:
        options["chat"] = True
    sampling = paper_sampling(int(settings.get("samples", 1)), settings.get("temperature"),
                              top_p=float(settings.get("top_p", 1.0)), top_k=int(settings.get("top_k", 0)),
                              max_tokens=int(settings.get("max_tokens", 512)), seed=int(settings.get("seed", 1234)))
    run = RunConfig(benchmark=benchmark, split=split, limit=settings.get("limit"),
                    task_ids=tuple(settings.get("task_ids", ())), backend=choice.backend, backend_options=options,
                    sampling=sampling, prompt=prompt, data=data, workers=settings.get("workers"),
                    limits=Limits(timeout_s=float(settings.get("timeout", 10.0)),
                                  memory_mb=int(settings.get("memory_mb", 1024))),
                    challenge=bool(settings.get("challenge", True)),
                    adaptive_timeouts=bool(settings.get("adaptive_timeouts", True)))
    spec = registered(choice.model) if choice.backend == DEFAULT_BACKEND else None
    model_name = choice.label or (spec.names[0] if spec and spec.names else None) or _model_label(choice)
    values = {k: _plain(settings.get(k)) for k in axes}
    values.update({"model": model_name, "protocol": protocol, "asserts_shown": prompt.asserts_shown,
                   "shot_ids": list(prompt.shot_ids or ()), "samples": sampling.n,
                   "temperature": sampling.temperature, "prompt_style": prompt.style.value})
    readable = "-".join([model_name, *(_short(k, values[k]) for k in axes if k != "model")])
    name = f"{_UNSAFE.sub('_', readable)[:80]}-{identity_hash(run, split)}"
    return Cell(name, replace(run, out_dir=out_dir / CELLS_DIR / name), split, choice, model_name,
                choice.params or (spec.params if spec else None), choice.family or (spec.family if spec else ""),
                protocol, values)


def _model_label(choice: ModelChoice) -> str:
    if choice.model is None:
        return choice.backend
    stem = Path(choice.model).name.removesuffix(".gguf")
    return stem if choice.backend == DEFAULT_BACKEND else f"{choice.backend}-{stem}"


_SHORT = {"shot_ids": "shots", "asserts_shown": "a", "temperature": "t", "samples": "n", "max_tokens": "tok"}


def _short(key: str, value: Any) -> str:
    if isinstance(value, list):
        value = ".".join(str(v).rsplit("/", 1)[-1] for v in value)
    if key in ("protocol", "prompt_style", "benchmark", "split", "backend"):
        return str(value)
    return f"{_SHORT.get(key, key)}{value}"


def order(cells: Sequence[Cell]) -> list[Cell]:
    """The running order that shows a useful partial picture early: first one cell per model,
    smallest model first (the scaling trend), then the remaining cells taking turns across models,
    the ones closest to each model's first cell (fewest options changed) first."""
    by_model: dict[str, list[Cell]] = {}
    for cell in cells:
        by_model.setdefault(cell.model_name, []).append(cell)
    models = sorted(by_model, key=lambda m: (by_model[m][0].params is None, by_model[m][0].params or 0))
    queues = []
    for m in models:
        first, *rest = by_model[m]
        rest.sort(key=lambda c: sum(c.values.get(k) != first.values.get(k) for k in c.values))
        queues.append([first, *rest])
    out = [q[0] for q in queues]
    for i in range(1, max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out
