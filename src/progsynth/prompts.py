"""The paper's few-shot prompt format (Austin et al., 2021, MBPP README), byte for byte.

Each shot is (one line in the prompt, wrapped here)::

    You are an expert Python programmer, and here is your task: {text}
    Your code should pass these tests:\n\n{tests}\n[BEGIN]\n{code}\n[DONE]\n

and the target task ends at ``[BEGIN]\n``. Shots come from the benchmark's prompt pool.

``choose_shots`` guarantees that no prompt contains its own target task; ``chat_prompt`` is the same
instruction as one plain-text user message for chat models, asking for a fenced Python block.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from progsynth.errors import UsageError

INTRO = "You are an expert Python programmer, and here is your task: "
TESTS_INTRO = " Your code should pass these tests:\n\n"
BEGIN = "[BEGIN]\n"
DONE = "[DONE]"


@dataclass(frozen=True)
class Shot:
    """One worked example: description, the tests shown, and its code (LF line endings)."""

    text: str
    tests: tuple[str, ...]
    code: str


def task_block(text: str, tests: Sequence[str]) -> str:
    """The part of a prompt that states a task, up to and including ``[BEGIN]\n``."""
    if tests:
        return INTRO + text + TESTS_INTRO + "\n".join(tests) + "\n" + BEGIN
    return INTRO + text + "\n" + BEGIN


def shot_block(shot: Shot) -> str:
    return task_block(shot.text, shot.tests) + shot.code + "\n" + DONE + "\n"


def paper_prompt(text: str, tests: Sequence[str], shots: Sequence[Shot]) -> str:
    """Shots first, then the target task ending at ``[BEGIN]\n``."""
    return "".join(shot_block(s) for s in shots) + task_block(text, tests)


def prompt_hash(prompt: str) -> str:
    """A short stable id of a prompt, stored with each sample so a changed prompt is detected."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


# --- shot selection --------------------------------------------------------------------------------


class ShotSubstitutionWarning(UserWarning):
    """A requested shot was the task being prompted and was replaced by another pool task."""


def choose_shots(
    target: str, pool: Sequence[str], requested: Sequence[str] | None, count: int
) -> tuple[str, ...]:
    """The task ids to show as shots for ``target``; never ``target`` itself.

    With ``requested=None`` the first ``count`` ids of ``pool`` (ordered defaults first) other than
    the target. Otherwise the requested ids in order, where the target, if listed, is replaced by the
    first pool id not already used, with a ``ShotSubstitutionWarning``: a prompt that showed the
    answer would silently inflate the score, and failing the whole run for one task would be worse.
    """
    if requested is None:
        chosen = tuple(t for t in pool if t != target)[:count]
        if len(chosen) < count:
            raise UsageError(
                f"{count} shots requested but the prompt pool has only {len(chosen)} task(s) other than {target}"
            )
        return chosen
    result: list[str] = []
    for task_id in requested:
        if task_id != target:
            result.append(task_id)
            continue
        spare = next((t for t in pool if t != target and t not in requested and t not in result), None)
        if spare is None:
            raise UsageError(f"shot {target} is the task being prompted and no other pool task is left")
        warnings.warn(
            f"shot {target} is the task being prompted; using {spare} instead",
            ShotSubstitutionWarning,
            stacklevel=2,
        )
        result.append(spare)
    return tuple(result)


# --- chat style ------------------------------------------------------------------------------------

CHAT_EXAMPLES_INTRO = "Here are example tasks, each with a solution that passes its tests.\n\n"
CHAT_REQUEST = "Write the complete solution as Python code in a single ```python code block.\n"


def _chat_task(intro: str, text: str, tests: Sequence[str]) -> str:
    if tests:
        return intro + text + TESTS_INTRO + "\n".join(tests) + "\n"
    return intro + text + "\n"


def chat_prompt(text: str, tests: Sequence[str], shots: Sequence[Shot]) -> str:
    """One user message for a chat model: optional worked examples, the paper's instruction for the
    target, and a request for a single ```python block (what ``extraction.strip_fences`` reads)."""
    examples = "".join(
        _chat_task("Example task: ", s.text, s.tests) + f"Solution:\n```python\n{s.code}\n```\n\n"
        for s in shots
    )
    return (
        (CHAT_EXAMPLES_INTRO + examples if shots else "")
        + _chat_task(INTRO, text, tests)
        + "\n"
        + CHAT_REQUEST
    )


def chat_completion_prompt(code_prefix: str) -> str:
    """A user message asking a chat model to finish a function given as signature plus docstring
    (HumanEval). The whole function is asked for, since chat models rarely return a bare body."""
    return (
        "You are an expert Python programmer. Complete the following Python function. Reply with the "
        "whole function, including its signature and any imports it needs, in a single ```python code "
        "block.\n\n```python\n" + code_prefix.rstrip("\n") + "\n```\n"
    )
