"""The tuned model evaluated beside its base, both through llama.cpp and the ordinary ``Run``.

llama.cpp applies a GGUF LoRA adapter at load time (``CommonParams.lora_adapters``), so the tuned
model generates at full llama.cpp speed (about 10% slower than the base, measured here) with no
merged copy of the weights. Each side gets a server of its own: this llama.cpp reuses a cached prompt
across requests that set other per-request LoRA scales, so base and tuned never share one.

``AdapterLlamaCppBackend`` is the llama.cpp backend with the adapter added; once the backend
declares an ``adapter`` option itself (``NATIVE_ADAPTERS``: the patch in the fine-tuning report),
that option is used instead. Both runs are ordinary run directories (``progsynth summary`` and
``progsynth compare`` read them); ``compare.json`` puts the two scores side by side.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar, cast

from progsynth.backends import create_backend
from progsynth.backends.llamacpp import LlamaCppBackend
from progsynth.backends.managed import Managed
from progsynth.backends.models import resolve_model
from progsynth.errors import BackendError, UsageError
from progsynth.experiments.finetune.adapter import AdapterInfo, check_for_run, read_adapter
from progsynth.options import OptionKind, OptionSpec
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import Run, RunOutput
from progsynth.store.jsonl import write_json_atomic

COMPARE_SCHEMA = "progsynth.finetune.compare/1"
COMPARE_FILE = "compare.json"


_ADAPTER_OPTIONS = (
    OptionSpec("adapter", OptionKind.STR, "a progsynth finetune output directory (or its adapter.gguf)"),
    OptionSpec("adapter_scale", OptionKind.FLOAT, "LoRA scale (0: the base model)", default=1.0, minimum=0),
)
#: True once the llama.cpp backend declares the ``adapter`` option itself (the patch in the
#: fine-tuning report); until then ``AdapterLlamaCppBackend`` adds it.
NATIVE_ADAPTERS = any(spec.name == "adapter" for spec in LlamaCppBackend.options)


class AdapterLlamaCppBackend(LlamaCppBackend):
    """llama.cpp with a fine-tuning output directory's GGUF adapter applied at ``adapter_scale``.

    ``model`` None means the base the adapter was trained on; a model whose sha256 differs from the
    recorded base is refused (an adapter loads onto any model of the same shapes without a word).
    """

    options: ClassVar[tuple[OptionSpec, ...]] = LlamaCppBackend.options + tuple(
        spec for spec in _ADAPTER_OPTIONS if spec.name not in {s.name for s in LlamaCppBackend.options})

    def __init__(self, model: str | os.PathLike[str] | None = None, **options: Any) -> None:
        adapter = options.get("adapter")
        if adapter is None:
            raise BackendError("the adapter backend needs adapter=<finetune output directory>")
        self.adapter: AdapterInfo = read_adapter(adapter)
        if self.adapter.whole:
            raise UsageError(f"{self.adapter.gguf} is a whole tuned model: load it as the model, not as an adapter")
        self.adapter_scale = float(options.get("adapter_scale", 1.0))  # range checked with the rest below
        if model is None:
            model = self.adapter.base_gguf
        resolved = resolve_model(model)
        self.adapter.check_base(resolved.path, resolved.sha256)  # before a server starts on a wrong model
        super().__init__(model, **options)
        self.name = f"{self.name}+lora:{self.adapter.out_dir.name}"

    def _start_server(self) -> Any:
        """The base server, started with the adapter in its parameters."""
        runtime, info, scale = self._runtime, self.adapter, self.adapter_scale

        def params() -> Any:
            p = runtime.CommonParams()
            p.lora_adapters = [runtime.CommonAdapterLoraInfo(str(info.gguf), scale)]
            return p

        self._runtime = cast(ModuleType, SimpleNamespace(CommonParams=params, Server=runtime.Server))
        try:
            return super()._start_server()
        finally:
            self._runtime = runtime

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.adapter.describe(), "adapter_scale": self.adapter_scale}


def adapter_backend(adapter: str | Path, **options: Any) -> Managed:
    """llama.cpp with the adapter, wrapped like every backend (retries, concurrency)."""
    if NATIVE_ADAPTERS:
        return create_backend("llamacpp", adapter=str(adapter), **options)
    return Managed(AdapterLlamaCppBackend(adapter=str(adapter), **options))


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
    (``out_root/base``) or with the adapter (``out_root/tuned``). The two sides are independent runs,
    so they may go in two processes at once (one thread each on a 2-core machine)."""
    split = cfg.split or "test"
    info = check_for_run(adapter, cfg.benchmark, split, cfg.prompt.shots)
    model = backend_options.pop("model", None) or info.base_gguf
    if model is None:
        raise UsageError(f"{info.out_dir} was trained from a transformers checkpoint: give the GGUF of the same "
                         "weights (model=...) to evaluate it with llama.cpp")
    options = {**backend_options, "model": str(model)}
    side_cfg = replace(cfg, backend="llamacpp", backend_options=options, out_dir=out_root / "base")
    if not tuned:
        return Run(side_cfg, show_progress=True).generate_and_judge()
    if info.whole:  # full fine-tuning: the tuned GGUF replaces the base
        whole = replace(side_cfg, backend_options={**options, "model": str(info.gguf)}, out_dir=out_root / "tuned")
        return Run(whole, show_progress=True).generate_and_judge()
    side_cfg = replace(side_cfg, backend_options={**options, "adapter": str(info.out_dir)}, out_dir=out_root / "tuned")
    backend = adapter_backend(info.out_dir, **options)
    try:
        return Run(side_cfg, show_progress=True).generate_and_judge(backend)
    finally:
        backend.close()


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
