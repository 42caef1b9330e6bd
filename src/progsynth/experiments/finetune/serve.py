"""The tuned model evaluated beside its base, both through llama.cpp and the ordinary ``Run``.

llama.cpp applies a GGUF LoRA adapter at load time (the llama.cpp backend's ``lora`` option), so the
tuned model generates at full llama.cpp speed (about 10% slower than the base, measured here) with
no merged copy of the weights; a fully tuned model is its own GGUF. Each side is an ordinary run
directory (``progsynth summary`` and ``progsynth compare`` read them) whose results record the
adapter, its base and the training configuration; ``compare.json`` puts the two scores side by side.
Exactly what ``progsynth run --adapter DIR`` does, so a user can reproduce either side by hand.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.errors import UsageError
from progsynth.experiments.finetune.adapter import read_adapter, tuned_run_options
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import Run, RunOutput
from progsynth.store.jsonl import write_json_atomic

COMPARE_SCHEMA = "progsynth.finetune.compare/1"
COMPARE_FILE = "compare.json"


@dataclass(frozen=True)
class Side:
    """One model's score on the compared split."""

    run_dir: str
    model: str
    tasks: int
    passed: int
    pass_at_1: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class Comparison:
    """Base and tuned on the same tasks, with the tasks only one of them solves."""

    base: Side
    tuned: Side
    adapter: Mapping[str, Any]  # AdapterInfo.describe(): the adapter and its training configuration
    benchmark: str
    split: str
    created: str
    only_base: tuple[str, ...]
    only_tuned: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"schema": COMPARE_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        sides = {k: Side(**{**data[k], "ci95": tuple(data[k]["ci95"])}) for k in ("base", "tuned")}
        return cls(sides["base"], sides["tuned"], data["adapter"], data["benchmark"], data["split"], data["created"],
                   tuple(data["only_base"]), tuple(data["only_tuned"]))


def _side(out: RunOutput) -> Side:
    doc = out.document
    estimate = doc.overall.metrics["pass@1"]
    name = str((doc.info.backend or {}).get("name", ""))
    return Side(str(out.out_dir), name, doc.overall.tasks, doc.overall.passed,
                estimate.value, (estimate.low, estimate.high))


def _solved(out: RunOutput) -> set[str]:
    return {t.task_id for t in out.document.per_task if t.c > 0}


def run_side(adapter: str | Path, cfg: RunConfig, out_root: Path, *, tuned: bool,
             **backend_options: Any) -> RunOutput:
    """One side of the comparison: ``cfg`` (a llama.cpp run; its out_dir is ignored) with the base
    (``out_root/base``) or the tuned model (``out_root/tuned``). The two sides are independent runs,
    so they may go in two processes at once (one thread each on a 2-core machine)."""
    split = cfg.split or "test"
    options, provenance = tuned_run_options(adapter, backend_options, cfg.benchmark, split, cfg.prompt.shots)
    if tuned:
        side = replace(cfg, backend="llamacpp", backend_options=options, model_provenance=provenance,
                       out_dir=out_root / "tuned")
    else:
        base_model = backend_options.get("model") or read_adapter(adapter).base_gguf
        if base_model is None:
            raise UsageError(f"{adapter} was trained from a transformers checkpoint: give its GGUF (model=...)")
        base = {**{k: v for k, v in options.items() if k != "lora"}, "model": str(base_model)}
        side = replace(cfg, backend="llamacpp", backend_options=base, out_dir=out_root / "base")
    return Run(side, show_progress=True).generate_and_judge()


def compare(adapter: str | Path, cfg: RunConfig, out_root: Path, **backend_options: Any) -> Comparison:
    """Both sides (``run_side``; a finished side is only re-read), then ``out_root/compare.json``."""
    base_out = run_side(adapter, cfg, out_root, tuned=False, **backend_options)
    tuned_out = run_side(adapter, cfg, out_root, tuned=True, **backend_options)
    result = Comparison(
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        benchmark=cfg.benchmark, split=str(base_out.document.config.get("split")),
        adapter=read_adapter(adapter).describe(), base=_side(base_out), tuned=_side(tuned_out),
        only_base=tuple(sorted(_solved(base_out) - _solved(tuned_out))),
        only_tuned=tuple(sorted(_solved(tuned_out) - _solved(base_out))),
    )
    write_json_atomic(out_root / COMPARE_FILE, result.to_json())
    return result
