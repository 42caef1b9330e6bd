"""Replays each task's canonical solution: checks the harness and the data, not a model."""

from __future__ import annotations

from typing import Any

from progsynth.types import Completion, FinishReason, GenerationRequest


class ReferenceBackend:
    name = "reference"

    def __init__(self, **_: Any) -> None:
        pass

    def generate(self, request: GenerationRequest) -> list[Completion]:
        text = request.problem.extra.get("reference_completion", request.problem.reference)
        return [Completion(text=str(text), finish_reason=FinishReason.REFERENCE)] * request.params.n
