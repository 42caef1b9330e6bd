"""The model-backend interface: one required method, like an httpx transport."""

from __future__ import annotations

from typing import Protocol

from progsynth.types import Completion, GenerationRequest


class Backend(Protocol):
    """Turns a prompt into ``request.params.n`` completions.

    Backends never raise for a single bad prompt (e.g. longer than the context): they return
    completions with ``FinishReason.ERROR``. They raise ``BackendError`` only when they cannot work
    at all (missing model, unreachable server, bad key). Backends holding resources also offer
    ``close()``; ``name`` is recorded in sample files.
    """

    name: str

    def generate(self, request: GenerationRequest) -> list[Completion]: ...
