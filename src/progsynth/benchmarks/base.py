"""What every benchmark module provides. Dataset quirks (line endings, setup-code order, answer
tolerance...) live in the benchmark's own module, never in the executor or the runner."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from pathlib import Path

from progsynth.errors import DataError, ProgsynthError, UsageError
from progsynth.types import Problem

MAX_SHOTS = 10
MAX_ASSERTS_SHOWN = 3


class PromptStyle(enum.Enum):
    PAPER = "paper"  # the paper's few-shot completion format ([BEGIN] ... [DONE])
    CHAT = "chat"  # a user message for instruction-tuned chat models


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are built. ``shot_ids=None`` means the benchmark's default shots;
    ``asserts_shown`` is how many of each task's tests appear in the prompt (all are executed)."""

    shots: int = 3
    shot_ids: tuple[str, ...] | None = None
    asserts_shown: int = 3
    style: PromptStyle = PromptStyle.PAPER

    def __post_init__(self) -> None:
        """Checked once here so every benchmark can trust the numbers. ``shot_ids``, when given,
        decides the shots by itself (its length is the count; ``shots`` is then ignored)."""
        if not 0 <= self.shots <= MAX_SHOTS:
            raise UsageError(f"shots must be between 0 and {MAX_SHOTS}, got {self.shots}")
        if not 0 <= self.asserts_shown <= MAX_ASSERTS_SHOWN:
            raise UsageError(
                f"asserts shown must be between 0 and {MAX_ASSERTS_SHOWN}, got {self.asserts_shown}"
            )
        if self.shot_ids is not None:
            if len(self.shot_ids) > MAX_SHOTS:
                raise UsageError(f"at most {MAX_SHOTS} shot ids, got {len(self.shot_ids)}")
            if len(set(self.shot_ids)) != len(self.shot_ids):
                raise UsageError(f"shot ids must be distinct, got {', '.join(self.shot_ids)}")


@dataclass(frozen=True)
class DataConfig:
    """Where data comes from: an explicit directory laid out like ``shared/data`` (option
    ``--data-dir`` or ``PROGSYNTH_DATA_DIR``), then the user cache, then a verified download."""

    data_dir: Path | None = None
    cache_dir: Path | None = None  # None: the default user cache (sources.default_cache_dir())
    allow_download: bool = True
    #: False accepts local files whose sha256 differs from the published one (downloads are still checked)
    verify_sha256: bool = True
    #: base URL of a mirror laid out like ``shared/data``; replaces the canonical download URLs
    mirror: str | None = None


class UnknownTaskError(ProgsynthError, KeyError):
    """A task id that names no task of a benchmark. A caller reading a file turns it into a
    ``DataError`` with ``at(path, line)``; a caller handling an option turns it into a UsageError."""

    def __init__(self, benchmark: str, raw: object, expected: str) -> None:
        super().__init__(f"unknown {benchmark} task id {raw!r} (expected {expected})")
        self.benchmark = benchmark
        self.raw = raw

    def at(self, path: object, line: int | None, field: str = "task_id") -> DataError:
        return DataError(path, self.message, line=line, field=field)

    def as_usage(self, option: str) -> UsageError:
        return UsageError(f"{option}: {self.message}")


class Benchmark(abc.ABC):
    """A dataset turned into ``Problem``s plus the rules for prompting and assembling programs."""

    name: str = ""
    splits: tuple[str, ...] = ()
    default_split: str = "test"
    #: stop sequences for the paper-style prompt
    stop: tuple[str, ...] = ("[DONE]",)

    @abc.abstractmethod
    def load(self, split: str, data: DataConfig) -> list[Problem]:
        """Problems of ``split`` ("all" for every problem), in task order."""

    @abc.abstractmethod
    def prompt(self, problem: Problem, config: PromptConfig, data: DataConfig) -> str:
        """The full prompt for ``problem``; never contains ``problem`` itself as a shot."""

    @abc.abstractmethod
    def extract(self, problem: Problem, raw: str, style: PromptStyle = PromptStyle.PAPER) -> str:
        """The code to keep from a raw model output: cut at [DONE] for the paper's format; for chat
        answers, the code among fences and prose (``progsynth.extraction.extract_code``)."""

    def normalize_task_id(self, raw: object) -> str:
        """The canonical task id for an id read from a samples file or an option; raises
        ``UnknownTaskError``. The default accepts a non-empty string or an int as it is; benchmarks
        with several spellings in use (MBPP: 11, "11", "mbpp/11") override it. Whether the task is
        in the split being run is the caller's check."""
        if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
            raise UnknownTaskError(self.name, raw, "a non-empty string")
        return str(raw).strip()

    def stop_sequences(self, config: PromptConfig) -> tuple[str, ...]:
        """Stop sequences for prompts built with ``config``: ``stop`` for the paper style, none for
        chat (a chat answer ends with the model's end-of-turn; completion stops such as HumanEval's
        ``"\\ndef "`` would cut a whole-function answer short)."""
        return self.stop if config.style is PromptStyle.PAPER else ()

    def program(self, problem: Problem, completion: str) -> str:
        """The program to execute for a completion (HumanEval prepends its prompt)."""
        return problem.prompt_prefix + completion

    def reference_completion(self, problem: Problem) -> str:
        """What the ``reference`` backend replays: a completion whose program is the reference."""
        return problem.reference
