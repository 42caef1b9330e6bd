"""The dialog prompt: the task's ordinary few-shot prompt, then each earlier program with the
feedback it got, then the opening of the next program.

Paper style (the default; the paper describes the layout, not its bytes, so this is our
reconstruction in the same ``[BEGIN]``/``[DONE]`` format as the few-shot prompt)::

    <few-shot prompt for the task, ending in "[BEGIN]\\n">
    <program of turn 0>
    [DONE]
    Feedback: <feedback on turn 0>
    [BEGIN]
    <program of turn 1>          <- what the model writes at turn 1, stopping at [DONE]

Chat style (for ``--prompt-style chat``) shows each earlier program in a fenced block followed by
the feedback and a request for a corrected block. Every piece is a template of ``DialogFormat``;
``load_format`` reads a JSON file that overrides any of them (``--dialog-template``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from progsynth.benchmarks.base import PromptStyle
from progsynth.errors import DataError


class DialogStyle(enum.Enum):
    PAPER = "paper"
    CHAT = "chat"


@dataclass(frozen=True)
class DialogFormat:
    """Templates appended to the task's prompt, once per earlier turn (``attempt`` then
    ``feedback``), and ``retry`` once at the end. ``{code}`` is the earlier program, ``{feedback}``
    the feedback it got."""

    attempt: str = "{code}\n[DONE]\n"
    feedback: str = "Feedback: {feedback}\n"
    retry: str = "[BEGIN]\n"

    def __post_init__(self) -> None:
        """A template without its placeholder would silently drop the program or the feedback."""
        if "{code}" not in self.attempt:
            raise ValueError("dialog template 'attempt' must contain {code}")
        if "{feedback}" not in self.feedback:
            raise ValueError("dialog template 'feedback' must contain {feedback}")


CHAT_FORMAT = DialogFormat(
    attempt="\nYour previous solution:\n```python\n{code}\n```\n",
    feedback="Feedback: {feedback}\n",
    retry="\nWrite the corrected complete solution as Python code in a single ```python code block.\n",
)
FORMATS = {DialogStyle.PAPER: DialogFormat(), DialogStyle.CHAT: CHAT_FORMAT}


def default_style(prompt_style: PromptStyle) -> DialogStyle:
    """The dialog style that continues prompts of ``prompt_style``."""
    return DialogStyle.CHAT if prompt_style is PromptStyle.CHAT else DialogStyle.PAPER


@dataclass(frozen=True)
class Exchange:
    """One earlier turn as the prompt shows it: the program and the feedback it got."""

    code: str
    feedback: str


def dialog_prompt(base: str, history: Sequence[Exchange], fmt: DialogFormat) -> str:
    """``base`` (the task's prompt) alone for turn 0, else followed by the dialog so far."""
    if not history:
        return base
    parts = [base]
    for turn in history:
        parts.append(fmt.attempt.replace("{code}", turn.code.strip("\n")))
        parts.append(fmt.feedback.replace("{feedback}", turn.feedback))
    parts.append(fmt.retry)
    return "".join(parts)


def load_format(path: Path, base: DialogFormat) -> DialogFormat:
    """``base`` with the templates a JSON object in ``path`` names (``attempt``, ``feedback``,
    ``retry``); any other key, a non-string value or a template without its placeholder is a
    DataError naming the file and field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object of templates")
    known = {f.name for f in fields(DialogFormat)}
    for key, value in data.items():
        if key not in known:
            raise DataError(path, f"unknown template; choose from {', '.join(sorted(known))}", field=key)
        if not isinstance(value, str):
            raise DataError(path, "expected a string", field=key)
    try:
        return replace(base, **data)
    except ValueError as exc:
        raise DataError(path, str(exc)) from None
