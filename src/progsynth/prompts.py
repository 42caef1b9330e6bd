"""The paper's few-shot prompt format (Austin et al., 2021, MBPP README), byte for byte.

Each shot is::

    You are an expert Python programmer, and here is your task: {text} Your code should pass these tests:\n\n{tests}\n[BEGIN]\n{code}\n[DONE]\n

and the target task ends at ``[BEGIN]\n``. Shots come from the benchmark's prompt pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

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
