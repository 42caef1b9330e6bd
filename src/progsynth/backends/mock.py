"""A scripted backend for tests and dry runs: deterministic, instant, no model.

By default even-numbered samples replay the task's reference completion and odd-numbered ones a
program that defines nothing useful, so a run over it has a known pass rate (about 50% per task)
without any model. A script replaces that: a mapping ``task_id -> list of texts/Completions``
(sample ``k`` gets entry ``k % len``), or a callable ``(request, sample_idx) -> text | Completion``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

from progsynth.backends.base import Backend
from progsynth.errors import BackendError, UsageError
from progsynth.options import OptionKind, OptionSpec
from progsynth.types import Completion, FinishReason, GenerationRequest

ScriptEntry: TypeAlias = str | Completion
Script: TypeAlias = Mapping[str, Sequence[ScriptEntry]] | Callable[[GenerationRequest, int], ScriptEntry]

#: What odd-numbered default samples return: valid Python that fails every test.
WRONG_PROGRAM = "def _mock_wrong_answer():\n    return None\n"
#: The same, as a function body, for completion-style tasks (HumanEval) whose prompt ends in a signature.
WRONG_BODY = "    return None\n"


class MockBackend(Backend):
    """Deterministic scripted completions (``delay_s`` simulates a slow model per request).

    ``script`` and ``fail_on`` are Python-only keywords (a mapping or callable, a list of task ids).
    ``fail_on`` names task ids for which ``generate`` raises BackendError, to test that a run stops
    cleanly; ``calls`` records every request, to test what the runner asked for. ``model`` is
    accepted (the CLI passes ``--model`` to every backend) and ignored.
    """

    label: ClassVar[str] = "mock"
    options: ClassVar[tuple[OptionSpec, ...]] = (
        OptionSpec("name", OptionKind.STR, "name recorded in sample files (prefixed with 'mock:')", default="mock"),
        OptionSpec("delay_s", OptionKind.FLOAT, "seconds each request takes, to simulate a slow model",
                   default=0.0, minimum=0),
    )

    def __init__(
        self,
        script: Script | None = None,
        *,
        model: str | None = None,
        fail_on: Iterable[str] = (),
        **options: Any,
    ) -> None:
        opts = self.checked_options(options)
        if script is not None and not callable(script) and not isinstance(script, Mapping):
            raise UsageError("mock backend: script must be a mapping task_id -> texts, or a callable")
        self.script = script
        name = str(opts["name"])
        self.name = name if name.startswith("mock") else f"mock:{name}"
        self.delay_s = float(opts["delay_s"])
        self.fail_on = frozenset(fail_on)
        self.calls: list[GenerationRequest] = []

    def generate(self, request: GenerationRequest) -> list[Completion]:
        self.calls.append(request)
        if request.problem.task_id in self.fail_on:
            raise BackendError(f"mock backend: scripted failure on {request.problem.task_id}")
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(request, request.first_idx + i) for i in range(request.params.n)]

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
            return problem.reference_completion
        return WRONG_BODY if problem.prompt_prefix else WRONG_PROGRAM

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scripted": self.script is not None}
