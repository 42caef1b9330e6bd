"""What every benchmark module provides. Dataset quirks (line endings, setup-code order, answer
tolerance...) live in the benchmark's own module, never in the executor or the runner."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass
from pathlib import Path

from progsynth.types import Problem


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


@dataclass(frozen=True)
class DataConfig:
    """Where data comes from: an explicit directory laid out like ``shared/data`` (option
    ``--data-dir`` or ``PROGSYNTH_DATA_DIR``), then the user cache, then a verified download."""

    data_dir: Path | None = None
    cache_dir: Path | None = None
    allow_download: bool = True


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
    def extract(self, problem: Problem, raw: str) -> str:
        """The code to keep from a raw model output (cut at [DONE], strip fences, ...)."""

    def program(self, problem: Problem, completion: str) -> str:
        """The program to execute for a completion (HumanEval prepends its prompt)."""
        return problem.prompt_prefix + completion

    def reference_completion(self, problem: Problem) -> str:
        """What the ``reference`` backend replays: a completion whose program is the reference."""
        return problem.reference
