"""Replays each task's canonical solution: checks the harness and the data, not a model."""

from __future__ import annotations

from typing import Any, ClassVar

from progsynth.backends.base import Backend
from progsynth.types import Completion, FinishReason, GenerationRequest


class ReferenceBackend(Backend):
    """Every sample is ``problem.reference_completion``, so a run over it should pass every task."""

    label: ClassVar[str] = "reference"
    name = "reference"

    def __init__(self, model: str | None = None, **options: Any) -> None:
        """``model`` is accepted (the CLI passes ``--model`` to every backend) and ignored."""
        self.checked_options(options)

    def generate(self, request: GenerationRequest) -> list[Completion]:
        completion = Completion(text=request.problem.reference_completion, finish_reason=FinishReason.REFERENCE)
        return [completion] * request.params.n
