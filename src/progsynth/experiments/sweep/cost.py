"""What a sweep will cost, printed before it starts: cells, tasks, samples and an estimated time.

The time is an estimate. For each model it uses, in order: the seconds per sample measured by
finished cells of this sweep on this machine; the registry's measured llama.cpp speeds for this
machine kind (``progsynth.backends.models.Speed``); a registered model without a measured speed
scaled from the nearest measured one by parameter count; otherwise it is unknown. The few-shot
part the prompts share is read once per cell (llama.cpp reuses a cached prefix; only each task's
own text is read again), a cell spends ``LOAD_S`` starting, and an answer is ``GEN_TOKENS`` long
(the default model's greedy MBPP test answers average 41 tokens; Gemma 270M's run longer); several
samples of one prompt are decoded together, which the notes measured at about ``BATCH_EXTRA`` of a
single sample's time per extra sample. Checked against finished runs: the default model's 500 test
tasks took 26.5 min on a shared machine, estimated 21 min.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from progsynth.backends.models import REGISTRY, Speed, registered

GEN_TOKENS = 60
CHARS_PER_TOKEN = 3.5
BATCH_EXTRA = 0.15
JUDGE_S_PER_SAMPLE = 0.05  # sandboxed execution of one sample's tests (cheap next to generation)
LOAD_S = 4.0  # starting a llama.cpp model and the executor, per cell (measured: 3-6 s for 0.1-0.5B models)


@dataclass(frozen=True)
class CellWork:
    """What one cell still has to do."""

    name: str
    model: str
    backend: str
    tasks: int  # tasks still missing samples
    samples: int  # samples per task
    prompt_chars: int  # length of the first task's prompt beyond the shared prefix
    done: bool
    delay_s: float = 0.0  # the mock backend's simulated seconds per request
    prefix_chars: int = 0  # the start every task's prompt shares (read once per cell)


@dataclass(frozen=True)
class CostEstimate:
    cells: int
    todo_cells: int
    todo_samples: int
    seconds: float | None  # None: some model's speed is unknown
    basis: Mapping[str, str]  # model -> where its speed came from

    def text(self) -> str:
        eta = "unknown" if self.seconds is None else _duration(self.seconds)
        basis = "; ".join(f"{m}: {b}" for m, b in self.basis.items())
        return (f"sweep: {self.cells} cells, {self.cells - self.todo_cells} done, {self.todo_cells} to run "
                f"({self.todo_samples} samples); estimated time {eta} (an estimate; speeds: {basis or 'none'})")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def registry_speed(model: str) -> tuple[Speed | None, str]:
    """The measured speed of a registered model, or one scaled from the nearest measured model."""
    spec = registered(model)
    if spec is None:
        return None, "unknown model speed"
    if spec.speed is not None:
        return spec.speed, "measured llama.cpp speed (registry)"
    measured = [s for s in REGISTRY if s.speed is not None and s.params]
    if not measured or not spec.params:
        return None, "unknown model speed"
    near = min(measured, key=lambda s: abs(s.params - spec.params))
    assert near.speed is not None
    ratio = near.params / spec.params
    return Speed(near.speed.prompt_tps * ratio, near.speed.gen_tps * ratio), f"scaled from {near.names[0]} by size"


def cell_seconds(work: CellWork, speed: Speed) -> float:
    per_task = work.prompt_chars / CHARS_PER_TOKEN / speed.prompt_tps
    per_task += GEN_TOKENS / speed.gen_tps * (1 + BATCH_EXTRA * (work.samples - 1))
    prefix = work.prefix_chars / CHARS_PER_TOKEN / speed.prompt_tps if work.tasks else 0.0
    return prefix + work.tasks * (per_task + JUDGE_S_PER_SAMPLE * work.samples)


def estimate(work: Sequence[CellWork], measured: Mapping[str, float]) -> CostEstimate:
    """The estimate for ``work``; ``measured``: seconds per sample by model, from finished cells."""
    todo = [w for w in work if not w.done]
    total: float | None = 0.0
    basis: dict[str, str] = {}
    for w in todo:
        seconds: float | None
        if w.model in measured:
            seconds, basis[w.model] = w.tasks * w.samples * measured[w.model], "measured by this sweep"
        elif w.backend == "mock":
            seconds = w.tasks * (w.delay_s + JUDGE_S_PER_SAMPLE * w.samples)
            basis[w.model] = "mock backend"
        else:
            speed, basis[w.model] = registry_speed(w.model)
            seconds = cell_seconds(w, speed) + LOAD_S if speed is not None else None
        total = None if total is None or seconds is None else total + seconds
    return CostEstimate(len(work), len(todo), sum(w.tasks * w.samples for w in todo), total, basis)
