"""A scripted backend for tests and dry runs: deterministic, instant, no model.

By default even-numbered samples replay the task's reference completion and odd-numbered ones a
program that defines nothing useful, so a run over it has a known pass rate (about 50% per task)
without any model. A script replaces that: a mapping ``task_id -> list of texts/Completions``
(sample ``k`` gets entry ``k % len``), or a callable ``(request, sample_idx) -> text | Completion``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from progsynth.errors import BackendError, UsageError
from progsynth.types import Completion, FinishReason, GenerationRequest

ScriptEntry: TypeAlias = str | Completion
Script: TypeAlias = Mapping[str, Sequence[ScriptEntry]] | Callable[[GenerationRequest, int], ScriptEntry]

#: What odd-numbered default samples return: valid Python that fails every test.
WRONG_PROGRAM = "def _mock_wrong_answer():\n    return None\n"
#: The same, as a function body, for completion-style tasks (HumanEval) whose prompt ends in a signature.
WRONG_BODY = "    return None\n"


class MockBackend:
    """Deterministic scripted completions (``delay_s`` simulates a slow model per request).

    ``fail_on`` names task ids for which ``generate`` raises BackendError, to test that a run
    stops cleanly; ``calls`` records every request, to test what the runner asked for.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        name: str = "mock",
        delay_s: float | str = 0.0,
        fail_on: Iterable[str] = (),
        **unknown: Any,
    ) -> None:
        if unknown:
            raise UsageError(f"unknown mock backend option(s): {', '.join(sorted(unknown))}")
        if script is not None and not callable(script) and not isinstance(script, Mapping):
            raise UsageError("mock backend: script must be a mapping task_id -> texts, or a callable")
        self.script = script
        self.name = name if name.startswith("mock") else f"mock:{name}"
        self.delay_s = float(delay_s)
        self.fail_on = frozenset(fail_on)
        self.calls: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> list[Completion]:
        self.calls.append(request)
        if request.problem.task_id in self.fail_on:
            raise BackendError(f"mock backend: scripted failure on {request.problem.task_id}")
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(request, request.first_idx + i) for i in range(request.params.n)]

    def generate_many(
        self, requests: Iterable[GenerationRequest]
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        """The optional batch interface, in request order (tests exercise the runner's use of it)."""
        for request in requests:
            yield request, self.generate(request)

    def _one(self, request: GenerationRequest, idx: int) -> Completion:
        entry = self._entry(request, idx)
        if isinstance(entry, Completion):
            return entry
        return Completion(text=entry, finish_reason=FinishReason.STOP, tokens=len(entry.split()))

    def _entry(self, request: GenerationRequest, idx: int) -> ScriptEntry:
        if callable(self.script):
            return self.script(request, idx)
        if self.script is not None:
            entries = self.script.get(request.problem.task_id)
            if not entries:
                return Completion("", FinishReason.ERROR, 0, error="mock: no scripted completion")
            return entries[idx % len(entries)]
        problem = request.problem
        if idx % 2 == 0:
            return str(problem.extra.get("reference_completion", problem.reference))
        return WRONG_BODY if problem.prompt_prefix else WRONG_PROGRAM

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "backend": "mock", "scripted": self.script is not None}

    def close(self) -> None:
        pass
