"""Benchmarks: datasets turned into ``Problem`` records. Modules are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

from progsynth.benchmarks.base import Benchmark, DataConfig, PromptConfig, PromptStyle
from progsynth.errors import UsageError

_REGISTRY: dict[str, str] = {
    "mbpp": "progsynth.benchmarks.mbpp:MBPP",
    "mbpp-sanitized": "progsynth.benchmarks.mbpp:SanitizedMBPP",
    "humaneval": "progsynth.benchmarks.humaneval:HumanEval",
    "mathqa-python": "progsynth.benchmarks.mathqa:MathQAPython",
}


def benchmark_names() -> list[str]:
    return list(_REGISTRY)


def get_benchmark(name: str, **options: Any) -> Benchmark:
    """The benchmark called ``name`` (see ``benchmark_names()``), built with its ``options``
    (e.g. ``rel_tol`` for mathqa-python)."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown benchmark '{name}'; choose from {', '.join(_REGISTRY)}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    try:
        bench: Benchmark = cls(**options)
    except TypeError:
        raise UsageError(f"benchmark '{name}' takes no option {', '.join(sorted(options))}") from None
    return bench


__all__ = ["Benchmark", "DataConfig", "PromptConfig", "PromptStyle", "benchmark_names", "get_benchmark"]
