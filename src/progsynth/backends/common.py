"""What every generating backend shares: seeds, error completions, chunked sampling, context checks.

Written once here so that the backends agree on the things a results file depends on: which seed
sample ``k`` of a task gets, that greedy decoding generates once and copies, and that a prompt too
long for the context is a failed generation rather than a failed run.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from progsynth.errors import BackendError
from progsynth.types import Completion, FinishReason, GenerationRequest

SEED_MODULUS = 2**31 - 1

#: ``draw(count, offset)``: up to ``count`` samples starting at sample ``first_idx + offset``.
Draw = Callable[[int, int], list[Completion]]


def task_seed(seed: int, task_id: str) -> int:
    """A per-task base seed; sample ``k`` of the task uses ``task_seed + k``.

    Derived by hashing so that tasks do not share random streams and a resumed run (which asks for
    samples ``first_idx`` onwards) draws exactly the seeds the uninterrupted run would have drawn.
    Kept well below 2**31 so ``base + k`` stays in every runtime's seed range.
    """
    digest = hashlib.sha256(f"{seed}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (SEED_MODULUS // 2)


def sample_seed(request: GenerationRequest, offset: int = 0) -> int:
    """The seed of sample ``request.first_idx + offset`` of the request's task."""
    return task_seed(request.params.seed, request.problem.task_id) + request.first_idx + offset


def error_completions(n: int, message: str) -> list[Completion]:
    """``n`` failed generations: recorded for the task instead of crashing the run."""
    return [Completion(text="", finish_reason=FinishReason.ERROR, tokens=0, error=message)] * n


def sample_count(request: GenerationRequest) -> int:
    """How many distinct generations a request needs: greedy decoding gives one answer, copied n times."""
    return 1 if request.params.greedy else request.params.n


def replicate(completions: list[Completion], n: int) -> list[Completion]:
    """Greedy results copied up to ``n`` (the runner checks it gets exactly ``n``)."""
    return completions if len(completions) >= n else completions + [completions[0]] * (n - len(completions))


class PromptRejected(Exception):
    """The model refused this prompt (too long for its context): a failed generation, not a failed run."""


def sample_in_chunks(request: GenerationRequest, chunk_size: Callable[[], int], draw: Draw) -> list[Completion]:
    """The request's samples drawn ``chunk_size()`` at a time (a server's ``n`` limit, a batch size).

    ``chunk_size`` is asked before every chunk because a backend may learn mid-request that its
    server draws fewer at once; ``draw`` may return fewer than asked for the same reason. A draw
    that raises ``PromptRejected`` fails the whole request: every chunk shares the prompt.
    """
    wanted = sample_count(request)
    out: list[Completion] = []
    try:
        while len(out) < wanted:
            out.extend(draw(min(chunk_size(), wanted - len(out)), len(out)))
    except PromptRejected as exc:
        return error_completions(request.params.n, str(exc))
    return replicate(out[:wanted], request.params.n)


def sample_within_context(
    request: GenerationRequest,
    *,
    prompt_tokens: int,
    ctx: int,
    chunk_size: Callable[[], int],
    draw: Callable[[int, int, int], list[Completion]],
    hint: str = "",
) -> list[Completion]:
    """``sample_in_chunks`` for a local model whose context holds the prompt and the generation.

    A prompt that leaves no room to generate is a failed generation for this task only; otherwise
    ``draw(count, offset, max_new)`` gets the token budget that still fits (at most ``max_tokens``).
    ``hint`` names the option that sets ``ctx``, for the message.
    """
    budget = ctx - prompt_tokens
    if budget <= 0:
        where = f" ({hint})" if hint else ""
        message = f"prompt of {prompt_tokens} tokens exceeds the context of {ctx} tokens{where}"
        return error_completions(request.params.n, message)
    max_new = min(budget, request.params.max_tokens)
    return sample_in_chunks(request, chunk_size, lambda count, offset: draw(count, offset, max_new))


def require_module(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency or fail with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"{what} needs the '{module}' package ({exc.msg}): pip install 'progsynth[{extra}]'"
        ) from None


def header_line(desc: Mapping[str, Any]) -> str:
    """One line for a run's progress header from a backend's ``describe()``: the model, and for a
    local runtime how many threads it got and why (the thread choice decides a run's speed, so a
    user should see it before waiting on it)."""
    line = str(desc.get("name", desc.get("backend", "?")))
    if "threads" in desc:
        line += f": {desc['threads']} threads ({desc.get('thread_reason', 'chosen by the backend')})"
    streams = min(int(desc.get("streams", 1)), int(desc.get("concurrency", 1)))  # Managed sends them
    if streams > 1:
        line += f", {streams} greedy tasks at once"
    return line
