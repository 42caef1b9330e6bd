"""Reading a predicted output and scoring it against the real one.

**Parsing.** The model's text is cut at its first newline, stripped, and read with
``ast.literal_eval`` only (at most ``MAX_PREDICTION`` characters): numbers, strings, bytes,
``True``/``False``/``None`` and tuples, lists, dicts and sets of those. Nothing a model writes is
ever evaluated: ``__import__('os').system(...)`` is an ``Unparsed`` prediction with its reason, as is
an empty answer or one cut short by the token limit.

**Exact.** The predicted and real values are equal *and of the same types all the way down*:
``True`` is not ``1``, ``2.0`` is not ``2``, ``(1, 2)`` is not ``[1, 2]``; set and dict members are
matched by the same rule whatever their order. Floats compare by value (``0.1 + 0.2`` must be
written as ``0.30000000000000004``).

**Tolerant.** As exact, except that numbers (``int``, ``float``, ``complex``; never ``bool``) match
when ``math.isclose(rel_tol=1e-6, abs_tol=1e-9)``, whichever numeric type each side has, element by
element inside containers. Strings and container types must still match.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_PREDICTION = 10_000
REL_TOL = 1e-6
ABS_TOL = 1e-9

Same = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Unparsed:
    """A prediction that is not a Python literal, and why."""

    reason: str


def literal_value(text: str) -> Any:
    """``text`` as a literal value, or ``Unparsed``; never evaluates anything else."""
    text = text.strip()
    if not text:
        return Unparsed("empty prediction")
    if len(text) > MAX_PREDICTION:
        return Unparsed(f"longer than {MAX_PREDICTION} characters")
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        return Unparsed(f"not a Python literal ({type(exc).__name__})")


def prediction_text(raw: str) -> str:
    """The answer line of a completion: up to its first newline, stripped."""
    return raw.split("\n", 1)[0].strip()


def parse_prediction(raw: str) -> Any:
    """The predicted value of a raw completion, or ``Unparsed``."""
    return literal_value(prediction_text(raw))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | complex) and not isinstance(x, bool)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, complex) or isinstance(b, complex):
        return abs(complex(a) - complex(b)) <= max(REL_TOL * max(abs(complex(a)), abs(complex(b))), ABS_TOL)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _members(pred: Any, truth: Any, same: Same) -> bool:
    """Set or dict members matched one to one by ``same`` (order-free)."""
    left = list(pred)
    for item in truth:
        match = next((i for i, cand in enumerate(left) if same(cand, item)), None)
        if match is None:
            return False
        left.pop(match)
    return not left


def _same(pred: Any, truth: Any, numbers: Callable[[Any, Any], bool]) -> bool:
    if _is_number(pred) and _is_number(truth):
        return numbers(pred, truth)
    if type(pred) is not type(truth):
        return False
    if isinstance(truth, list | tuple):
        return len(pred) == len(truth) and all(_same(p, t, numbers) for p, t in zip(pred, truth, strict=True))
    if isinstance(truth, set | frozenset):
        return len(pred) == len(truth) and _members(pred, truth, lambda p, t: _same(p, t, numbers))
    if isinstance(truth, dict):
        return len(pred) == len(truth) and _members(
            pred.items(), truth.items(), lambda p, t: _same(p[0], t[0], numbers) and _same(p[1], t[1], numbers))
    return bool(pred == truth)


def _exact_number(pred: Any, truth: Any) -> bool:
    return type(pred) is type(truth) and bool(pred == truth)


def exact(pred: Any, truth: Any) -> bool:
    """Equal, with the same types throughout (see the module docstring)."""
    return _same(pred, truth, _exact_number)


def tolerant(pred: Any, truth: Any) -> bool:
    """Equal up to numeric tolerance (see the module docstring)."""
    return _same(pred, truth, _close)
