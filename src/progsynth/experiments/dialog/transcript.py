"""``transcript.jsonl``: one line per finished turn, written append-only and fsynced.

A turn's line is written once its action is known (solved, feedback given, accepted...), so a
session stopped or killed while waiting for feedback leaves no line for that turn: the resumed
session finds the turn's program in ``samples.jsonl`` and its verdict in ``verdicts.jsonl`` (the
run's own stores) and asks again. Lines are keyed by (task_id, turn); the first line for a key
wins, so a resumed session never writes or counts a turn twice.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.store.jsonl import AppendOnlyStore, JsonlWriter, iter_records
from progsynth.types import FinishReason
from progsynth.verdicts import Verdict

TRANSCRIPT_FILE = "transcript.jsonl"


class Action(enum.Enum):
    """What followed a turn. Every action but REVISE ends the task's dialog; STOP is never written
    (the session saves and exits, and the turn is asked again on resume)."""

    REVISE = "revise"  # feedback was given; the model writes another turn
    SOLVED = "solved"  # the program passed every test
    ACCEPT = "accept"  # the user accepted the program as it is
    SKIP = "skip"  # the user gave up on the task
    NO_FEEDBACK = "no_feedback"  # the feedback file has nothing for this turn
    OUT_OF_TURNS = "out_of_turns"  # the last allowed turn did not pass
    STOP = "stop"  # save and exit now

    @property
    def ends_task(self) -> bool:
        return self is not Action.REVISE


@dataclass(frozen=True)
class TurnRecord:
    """One turn: what the model was asked (``prompt_hash``), what it wrote, how it was judged and
    what came next."""

    task_id: str
    turn: int
    prompt_hash: str
    completion: str
    program: str
    verdict: Verdict
    action: Action
    feedback: str | None = None
    raw: str | None = None
    finish_reason: FinishReason | None = None
    model: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id, "turn": self.turn, "action": self.action.value, "passed": self.passed,
            "feedback": self.feedback, "prompt_hash": self.prompt_hash, "model": self.model,
            "finish_reason": self.finish_reason.value if self.finish_reason is not None else None,
            "completion": self.completion, "program": self.program, "raw": self.raw,
            "verdict": self.verdict.to_json(),
        }

    @classmethod
    def from_json(cls, path: Path, line: int, data: Mapping[str, Any]) -> TurnRecord:
        """A line read back; a missing or wrong field is a DataError naming file, line and field."""
        def need(name: str, kind: type) -> Any:
            value = data.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise DataError(path, f"expected {kind.__name__}", line=line, field=name)
            return value

        try:
            action = Action(need("action", str))
            reason = data.get("finish_reason")
            finish = FinishReason(reason) if isinstance(reason, str) else None
            verdict = Verdict.from_json(need("verdict", dict))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(path, f"bad value ({exc})", line=line) from None
        feedback, raw = data.get("feedback"), data.get("raw")
        return cls(need("task_id", str), need("turn", int), str(data.get("prompt_hash", "")),
                   need("completion", str), need("program", str), verdict, action,
                   feedback if isinstance(feedback, str) else None, raw if isinstance(raw, str) else None,
                   finish, str(data.get("model", "")))


class Transcript(AppendOnlyStore):
    """The transcript of one dialog directory, read back on open and appended to as turns end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.turns: dict[str, list[TurnRecord]] = {}
        if path.exists():
            for line, data in iter_records(path):
                self._keep(TurnRecord.from_json(path, line, data))
        self._writer = JsonlWriter(path, fsync=True)

    def _keep(self, record: TurnRecord) -> bool:
        """Index ``record`` if it is the task's next turn (a duplicate or a gap is ignored)."""
        history = self.turns.setdefault(record.task_id, [])
        if record.turn != len(history) or (history and history[-1].action.ends_task):
            return False
        history.append(record)
        return True

    def history(self, task_id: str) -> list[TurnRecord]:
        return list(self.turns.get(task_id, []))

    def next_turn(self, task_id: str) -> int:
        return len(self.turns.get(task_id, []))

    def finished(self, task_id: str) -> bool:
        history = self.turns.get(task_id) or []
        return bool(history) and history[-1].action.ends_task

    def append(self, record: TurnRecord) -> None:
        """Write ``record`` (fsynced) unless the task already has that turn."""
        if record.action is Action.STOP:
            raise ValueError("a stop is not a turn; nothing is written for it")
        if self._keep(record):
            self._writer.append(record.to_json())
