"""The run configuration, validated once at the edge (the CLI or an API caller) and frozen.

What identifies a run is defined here and nowhere else: the default output directory's hash
(``identity``), the samples file's header that a resume must match (``samples_header``) and the
configuration recorded in the results (``results_config``). The paper's sampling defaults live here
too (``paper_sampling``): greedy for one sample, temperature 0.5 for several.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

from progsynth.benchmarks.base import DataConfig, PromptConfig
from progsynth.errors import UsageError
from progsynth.execution.api import Limits
from progsynth.protocols import protocol_of
from progsynth.types import SamplingParams

#: The paper's temperature when several samples are drawn per task (Austin et al., 2021, sec. 2.4).
PAPER_TEMPERATURE = 0.5
RUNS_DIR = Path("runs")


def paper_sampling(n: int = 1, temperature: float | None = None, **params: Any) -> SamplingParams:
    """Sampling with the paper's default temperature: 0 (greedy) for one sample, 0.5 for several."""
    if temperature is None:
        temperature = 0.0 if n == 1 else PAPER_TEMPERATURE
    return SamplingParams(n=n, temperature=temperature, **params)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's samples and verdicts.

    ``out_dir=None`` means ``runs/<benchmark>-<split>-<backend>-<hash of the identity>``, so the same
    command always resumes the same directory.
    """

    out_dir: Path | None = None
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
    #: score tasks without samples as failures instead of leaving them out (see store.results.Coverage)
    missing_as_failed: bool = False
    #: per-task CPU limits from each reference's measured time (execution.adaptive); False: ``limits`` everywhere
    adaptive_timeouts: bool = True
    #: where the model came from when the backend options cannot say it all (a fine-tuning's adapter,
    #: base and training configuration); recorded in the results, not part of the identity
    model_provenance: Mapping[str, Any] = field(default_factory=dict)
    #: run the programs on this Ray cluster (``host:port`` or ``auto``; execution.ray), one sandbox
    #: pool per node; None: the local pool. Not part of the identity: where programs ran changes no verdict
    ray_address: str | None = None
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
        if self.ray_address is not None and self.ray_address != "auto" and ":" not in self.ray_address:
            raise UsageError(f"--ray takes host:port or auto, got {self.ray_address!r}")

    # --- what identifies a run (defined once) ------------------------------------------------------

    def identity(self, split: str) -> dict[str, Any]:
        """What makes two runs the same run: hashed into the default output directory's name."""
        return {"benchmark": self.benchmark, "benchmark_options": to_jsonable(self.benchmark_options),
                "split": split, "backend": self.backend, "options": to_jsonable(self.backend_options),
                "sampling": to_jsonable(self.sampling), "prompt": to_jsonable(self.prompt)}

    def resolved_out_dir(self, split: str) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        digest = hashlib.sha256(json.dumps(self.identity(split), sort_keys=True, default=str).encode()).hexdigest()
        name = "-".join(part for part in (self.benchmark, split, self.backend) if part)
        return RUNS_DIR / f"{name}-{digest[:8]}".replace("/", "_").replace(":", "_")

    def samples_header(self, split: str, model: str, sampling: SamplingParams) -> dict[str, Any]:
        """The samples file's header: a resume must match every key (``n`` is left out because
        more samples may be added to a run later)."""
        params = to_jsonable(sampling)
        params.pop("n", None)
        return {"benchmark": self.benchmark, "split": split, "backend": self.backend, "model": model,
                "sampling": params, "prompt": to_jsonable(self.prompt)}

    def results_config(self, split: str, sampling: SamplingParams) -> dict[str, Any]:
        """The configuration recorded in ``results.json`` (with the benchmark's stop sequences), and
        the protocol preset its prompt equals (``progsynth.protocols``; ``custom`` if none), so a
        number says which harness's wording it came from."""
        out: dict[str, Any] = to_jsonable(replace(self, sampling=sampling, split=split))
        out.pop("fresh", None)
        out["protocol"] = protocol_of(self.prompt)
        return out


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, mappings and paths as plain JSON values (for headers and results)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj
