"""Benchmarks: datasets turned into ``Problem`` records. Modules are imported on first use, so
listing the names (``--help``) loads neither a benchmark module nor any data."""

from __future__ import annotations

import importlib
from typing import Any

from progsynth.benchmarks.base import ALL_SPLIT, Benchmark, DataConfig, PromptConfig, PromptStyle
from progsynth.errors import UsageError
from progsynth.options import parse_options

#: benchmark name -> (module, class name)
_CLASSES: dict[str, tuple[str, str]] = {
    "mbpp": ("progsynth.benchmarks.mbpp", "MBPP"),
    "mbpp-sanitized": ("progsynth.benchmarks.mbpp", "SanitizedMBPP"),
    "humaneval": ("progsynth.benchmarks.humaneval", "HumanEval"),
    "mathqa-python": ("progsynth.benchmarks.mathqa", "MathQAPython"),
}


def benchmark_names() -> list[str]:
    return list(_CLASSES)


def benchmark_class(name: str) -> type[Benchmark]:
    """The class of benchmark ``name``, for reading what it declares (``options``, ``splits``,
    ``default_split``) without building it or loading data."""
    if name not in _CLASSES:
        raise UsageError(f"unknown benchmark '{name}'; choose from {', '.join(_CLASSES)}")
    module, class_name = _CLASSES[name]
    found = vars(importlib.import_module(module))[class_name]
    if not (isinstance(found, type) and issubclass(found, Benchmark)):
        raise TypeError(f"{module}.{class_name} is not a Benchmark")
    return found


def get_benchmark(name: str, **options: Any) -> Benchmark:
    """The benchmark called ``name`` (see ``benchmark_names()``), built with ``options`` checked
    against its declared ``options`` (e.g. ``rel_tol`` for mathqa-python): unknown names and bad
    values are one UsageError, and options not given get their declared defaults."""
    cls = benchmark_class(name)
    return cls(**parse_options(f"{name} benchmark", cls.options, options))


__all__ = [
    "ALL_SPLIT",
    "Benchmark",
    "DataConfig",
    "PromptConfig",
    "PromptStyle",
    "benchmark_class",
    "benchmark_names",
    "get_benchmark",
]
