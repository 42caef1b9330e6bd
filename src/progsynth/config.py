"""The run configuration, validated once at the edge (the CLI or an API caller) and frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from progsynth.benchmarks.base import DataConfig, PromptConfig
from progsynth.errors import UsageError
from progsynth.execution.api import Limits
from progsynth.types import SamplingParams


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's samples and verdicts."""

    out_dir: Path
    benchmark: str = "mbpp"
    benchmark_options: Mapping[str, Any] = field(default_factory=dict)
    split: str | None = None  # None: the benchmark's default split
    limit: int | None = None
    task_ids: tuple[str, ...] = ()
    backend: str = "llamacpp"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    sampling: SamplingParams = SamplingParams()
    prompt: PromptConfig = PromptConfig()
    limits: Limits = Limits()
    workers: int | None = None
    data: DataConfig = DataConfig()
    challenge: bool = True
    fresh: bool = False

    def __post_init__(self) -> None:
        s = self.sampling
        if s.n < 1:
            raise UsageError(f"--samples must be at least 1, got {s.n}")
        if s.temperature < 0:
            raise UsageError(f"--temperature must be >= 0, got {s.temperature}")
        if s.n > 1 and s.greedy:
            raise UsageError("--samples > 1 needs --temperature > 0 (greedy decoding gives one answer)")
        if not 0 < s.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], got {s.top_p}")
        if s.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, got {s.max_tokens}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"--limit must be at least 1, got {self.limit}")
        if self.limits.timeout_s <= 0 or self.limits.memory_mb < 16:
            raise UsageError("--timeout must be > 0 and --memory-mb at least 16")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums and paths as plain JSON values (for headers and results)."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict | Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "value") and hasattr(obj, "name") and obj.__class__.__module__ != "builtins":
        return obj.value
    return obj
