"""Helpers every generating backend shares: seeds, stop strings, error completions, option checks."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Sequence
from types import ModuleType

from progsynth.errors import BackendError, UsageError
from progsynth.types import Completion, FinishReason, GenerationRequest

SEED_MODULUS = 2**31 - 1


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


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def sample_count(request: GenerationRequest) -> int:
    """How many distinct generations a request needs: greedy decoding gives one answer, copied n times."""
    return 1 if request.params.greedy else request.params.n


def replicate(completions: list[Completion], n: int) -> list[Completion]:
    """Greedy results copied up to ``n`` (the runner checks it gets exactly ``n``)."""
    return completions if len(completions) >= n else completions + [completions[0]] * (n - len(completions))


def require_module(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency or fail with the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(
            f"{what} needs the '{module}' package ({exc.msg}): pip install 'progsynth[{extra}]'"
        ) from None


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Backend options arrive from the CLI or Python callers: checked once, here."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f"backend option '{name}' must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise UsageError(f"backend option '{name}' must be an integer, got {value!r}") from None
    if number < minimum:
        raise UsageError(f"backend option '{name}' must be at least {minimum}, got {number}")
    return number


def positive_float(name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UsageError(f"backend option '{name}' must be a number, got {value!r}") from None
    if number <= 0:
        raise UsageError(f"backend option '{name}' must be > 0, got {number}")
    return number


def as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"backend option '{name}' must be true or false, got {value!r}")
