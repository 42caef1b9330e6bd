"""Where feedback comes from: a person at the terminal (``progsynth.cli.dialog``), a scripted file
replayed exactly, or the failing test itself (automatic, for measuring self-repair on a split).

A source answers each failing turn with a ``Reply``: feedback text (the model revises), or an
action that ends the task (accept, skip) or the session (stop). The same words work everywhere: an
empty reply accepts, ``/skip`` skips, ``/stop`` stops (interactive only), ``/accept`` accepts.

Feedback file (``--feedback FILE``): JSON Lines, one object per turn answered::

    {"task_id": "Mbpp/11", "turn": 0, "feedback": "Only remove the first and last occurrence."}

``turn`` is the turn whose program the feedback is about (0 = the first program). Other fields are
ignored and a ``null`` feedback is skipped unless ``action`` says ``accept`` or ``skip``, so a
``transcript.jsonl`` is itself a feedback file: replaying it repeats the study exactly.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from progsynth.benchmarks.base import UnknownTaskError
from progsynth.errors import DataError
from progsynth.experiments.dialog.transcript import Action, TurnRecord
from progsynth.store.jsonl import iter_records
from progsynth.types import FinishReason, Problem
from progsynth.verdicts import Status, Verdict

#: automatic feedback is cut to this many characters (a long traceback would crowd out the task)
AUTO_FEEDBACK_CHARS = 400
_MESSAGE_CHARS = 160


class FeedbackMode(enum.Enum):
    INTERACTIVE = "interactive"
    AUTO = "auto"
    FILE = "file"


@dataclass(frozen=True)
class Reply:
    """A source's answer to one turn: ``text`` is the feedback when ``action`` is REVISE."""

    action: Action
    text: str | None = None


@dataclass(frozen=True)
class Returned:
    """What the call of the failing assert gave when the program ran (probed in the sandbox), so
    feedback can say "it returned 6" rather than only "this assert fails"."""

    call: str
    value: str


@dataclass(frozen=True)
class TurnView:
    """What a source sees of a judged turn; ``returned`` only for a failed assert whose call
    could be isolated and ran to a value."""

    problem: Problem
    turn: int
    last_turn: int
    program: str
    verdict: Verdict
    finish_reason: FinishReason | None
    history: Sequence[TurnRecord]
    returned: Returned | None = None


def parse_reply(text: str) -> Reply | None:
    """The reply a typed or scripted line means; None for an unknown ``/command``."""
    words = text.strip()
    commands = {"": Action.ACCEPT, "/accept": Action.ACCEPT, "/skip": Action.SKIP, "/stop": Action.STOP}
    if words in commands:
        return Reply(commands[words])
    if words.startswith("/") and " " not in words:
        return None
    return Reply(Action.REVISE, words)


class FeedbackSource(abc.ABC):
    """Answers failing turns. ``one_task_at_a_time``: finish each task's dialog before the next
    (a person reading along) rather than taking every task through turn t together (batch)."""

    mode: ClassVar[FeedbackMode]
    one_task_at_a_time: ClassVar[bool] = False

    def show(self, view: TurnView) -> None:  # noqa: B027 - only the terminal shows turns
        """Called for every judged turn, before any reply is asked for."""

    @abc.abstractmethod
    def reply(self, view: TurnView) -> Reply:
        """The answer to a turn whose program failed and that is not the last allowed turn."""


class AutoFeedback(FeedbackSource):
    """Feedback from the first failing test and its error, no person involved."""

    mode = FeedbackMode.AUTO

    def reply(self, view: TurnView) -> Reply:
        return Reply(Action.REVISE, auto_feedback(view.problem, view.verdict, view.finish_reason, view.returned))


def _short(text: str, limit: int) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def _middle(text: str, limit: int) -> str:
    """``text`` on one line, its middle elided past ``limit``: an assert's expected value is at its end."""
    one_line = " ".join(text.split())
    if len(one_line) <= limit:
        return one_line
    head = limit * 2 // 5
    return one_line[:head] + " ... " + one_line[-(limit - head - 5):]


def auto_feedback(problem: Problem, verdict: Verdict, finish: FinishReason | None = None,
                  returned: Returned | None = None) -> str:
    """A sentence about the first thing that went wrong, at most ``AUTO_FEEDBACK_CHARS`` long; for
    a failed assert, what its call returned when that is known."""
    parts = []
    if finish is FinishReason.LENGTH:
        parts.append("The code was cut off at the token limit before [DONE].")
    message = _short(verdict.message, _MESSAGE_CHARS)
    error = f"{verdict.error_type}: {message}" if verdict.error_type and message else verdict.error_type or message
    index = verdict.failed_test
    test = _middle(problem.tests[index], 220) if index is not None and 0 <= index < len(problem.tests) else None
    status = verdict.status
    if status is Status.SYNTAX_ERROR:
        parts.append(f"The code is not valid Python ({error}).")
    elif test is None:
        parts.append(f"The code fails before any test runs ({error or status.value}).")
    elif status is Status.FAILED:
        parts.append(f"The code fails `{test}`.")
        if returned is not None:
            parts.append(f"`{_middle(returned.call, 100)}` returned `{_middle(returned.value, 120)}`.")
        if message:
            parts.append(f"({message})")
    elif status is Status.ERROR:
        parts.append(f"`{test}` raises {error}.")
    elif status is Status.TIMEOUT:
        parts.append(f"`{test}` does not finish within the time limit.")
    else:
        parts.append(f"`{test}` was stopped ({error or status.value}).")
    return _short(" ".join(parts), AUTO_FEEDBACK_CHARS)


class ScriptedFeedback(FeedbackSource):
    """Replies read from a feedback file (see the module docstring); a turn the file does not
    answer ends the task as NO_FEEDBACK."""

    mode = FeedbackMode.FILE

    def __init__(self, replies: Mapping[tuple[str, int], Reply]) -> None:
        self.replies = dict(replies)

    def reply(self, view: TurnView) -> Reply:
        return self.replies.get((view.problem.task_id, view.turn), Reply(Action.NO_FEEDBACK))


def read_feedback_file(path: Path, normalize: Callable[[object], str],
                       split_ids: Collection[str], split: str) -> dict[tuple[str, int], Reply]:
    """Every reply in ``path``. A bad line is a DataError naming the file, the line and the field:
    invalid JSON, an unknown task id or one outside ``split``, a turn that is not a non-negative
    integer, feedback that is not text, an unknown ``/command`` or a second reply for one turn."""
    out: dict[tuple[str, int], Reply] = {}
    first_line: dict[tuple[str, int], int] = {}
    for line, record in iter_records(path, allow_torn_tail=False):
        try:
            task = normalize(record.get("task_id"))
        except UnknownTaskError as exc:
            raise exc.at(path, line) from None
        if task not in split_ids:
            raise DataError(path, f"task {task} is not in split '{split}'", line=line, field="task_id")
        turn = record.get("turn")
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
            raise DataError(path, f"expected a non-negative integer, got {turn!r}", line=line, field="turn")
        reply = _line_reply(path, line, record)
        if reply is None:
            continue
        if (task, turn) in out:
            raise DataError(path, f"a second reply for {task} turn {turn} (the first is on line "
                            f"{first_line[(task, turn)]})", line=line, field="turn")
        out[(task, turn)], first_line[(task, turn)] = reply, line
    return out


def _line_reply(path: Path, line: int, record: Mapping[str, object]) -> Reply | None:
    feedback = record.get("feedback", ...)
    if feedback is ...:
        raise DataError(path, "missing", line=line, field="feedback")
    if feedback is None:  # a transcript line: only an accept or a skip is a reply
        action = record.get("action")
        return Reply(Action(action)) if action in (Action.ACCEPT.value, Action.SKIP.value) else None
    if not isinstance(feedback, str):
        raise DataError(path, f"expected text or null, got {type(feedback).__name__}", line=line, field="feedback")
    reply = parse_reply(feedback)
    if reply is None or reply.action is Action.STOP:
        raise DataError(path, f"unknown command {feedback.strip()!r} (use /accept or /skip)", line=line,
                        field="feedback")
    return reply
