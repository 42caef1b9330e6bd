"""``dialog.json`` (schema ``progsynth.dialog/1``): the solved fraction by turn, typed.

``by_turn[t]`` is cumulative: the share of the selected tasks whose program passed at some turn
``<= t`` (the paper's figure), with a 95% bootstrap interval over tasks (``progsynth.metrics``).
Every selected task is in the denominator, including tasks a stopped session has not reached yet
(``finished`` says how many dialogs are complete), so a partial session never looks better than it is.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from progsynth.errors import DataError
from progsynth.experiments.dialog.transcript import Action, TurnRecord
from progsynth.metrics import Estimate, TaskCounts, summarize
from progsynth.verdicts import Status

SCHEMA = "progsynth.dialog/1"
DIALOG_FILE = "dialog.json"


@dataclass(frozen=True)
class TurnScore:
    """Tasks solved by turn ``turn`` (cumulative) out of all selected tasks."""

    turn: int
    solved: int
    fraction: Estimate

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.turn, "solved": self.solved, **self.fraction.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnScore:
        low, high = data["ci95"]
        return cls(int(data["turn"]), int(data["solved"]), Estimate(float(data["value"]), float(low), float(high)))


@dataclass(frozen=True)
class TaskOutcome:
    """One task's dialog: turns taken, the turn that solved it (None: unsolved), how it ended
    (None: not finished) and the last program's status."""

    task_id: str
    turns: int
    solved_at: int | None
    ended: Action | None
    status: Status | None

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "turns": self.turns, "solved_at": self.solved_at,
                "ended": self.ended.value if self.ended else None, "status": self.status.value if self.status else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskOutcome:
        ended, status = data.get("ended"), data.get("status")
        return cls(str(data["task_id"]), int(data["turns"]), data.get("solved_at"),
                   Action(ended) if ended else None, Status(status) if status else None)


@dataclass(frozen=True)
class DialogResults:
    """The summary of a dialog directory (see the module docstring)."""

    config: Mapping[str, Any]
    tasks: int
    finished: int
    by_turn: tuple[TurnScore, ...]
    actions: Mapping[Action, int]
    per_task: tuple[TaskOutcome, ...]
    stopped: bool = False
    wall_s: float = 0.0
    revisions: int = 0  # turns after turn 0
    repeats: int = 0  # revisions whose program is the previous turn's, character for character
    schema: str = SCHEMA

    @property
    def error_rate_reduction(self) -> float | None:
        """1 - (unsolved after the last turn) / (unsolved after turn 0); the paper's "halves the
        error rate" is 0.5. None when turn 0 solved everything (no error to reduce)."""
        if not self.by_turn or self.by_turn[0].fraction.value >= 1.0:
            return None
        first, last = self.by_turn[0].fraction.value, self.by_turn[-1].fraction.value
        return 1.0 - (1.0 - last) / (1.0 - first)

    def to_json(self) -> dict[str, Any]:
        reduction = self.error_rate_reduction
        return {
            "schema": self.schema, "config": dict(self.config), "tasks": self.tasks, "finished": self.finished,
            "stopped": self.stopped, "wall_s": round(self.wall_s, 2),
            "by_turn": [t.to_json() for t in self.by_turn],
            "error_rate_reduction": round(reduction, 6) if reduction is not None else None,
            "actions": {a.value: self.actions.get(a, 0) for a in Action if a is not Action.STOP},
            "revisions": self.revisions, "repeats": self.repeats,
            "per_task": [t.to_json() for t in self.per_task],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: object = DIALOG_FILE) -> DialogResults:
        if data.get("schema") != SCHEMA:
            raise DataError(source, f"expected schema {SCHEMA}, got {data.get('schema')!r}", field="schema")
        try:
            return cls(dict(data["config"]), int(data["tasks"]), int(data["finished"]),
                       tuple(TurnScore.from_json(t) for t in data["by_turn"]),
                       {Action(k): int(v) for k, v in data["actions"].items()},
                       tuple(TaskOutcome.from_json(t) for t in data["per_task"]),
                       bool(data.get("stopped", False)), float(data.get("wall_s", 0.0)),
                       int(data.get("revisions", 0)), int(data.get("repeats", 0)))
        except (KeyError, ValueError, TypeError) as exc:
            raise DataError(source, f"malformed dialog results ({exc!r})") from None


def outcome(task_id: str, history: Sequence[TurnRecord]) -> TaskOutcome:
    solved = next((r.turn for r in history if r.passed), None)
    last = history[-1] if history else None
    ended = last.action if last is not None and last.action.ends_task else None
    return TaskOutcome(task_id, len(history), solved, ended, last.verdict.status if last else None)


def build_dialog_results(config: Mapping[str, Any], task_ids: Sequence[str],
                         turns: Mapping[str, Sequence[TurnRecord]], max_turn: int, *, stopped: bool = False,
                         wall_s: float = 0.0) -> DialogResults:
    """The results over ``task_ids`` from the transcript's ``turns`` (task -> its turn records)."""
    outcomes = tuple(outcome(t, turns.get(t, ())) for t in task_ids)
    by_turn = []
    for turn in range(max_turn + 1):
        counts = [TaskCounts(o.task_id, 1, int(o.solved_at is not None and o.solved_at <= turn)) for o in outcomes]
        estimate = summarize(counts, ks=[1])["solved_any"] if counts else Estimate(0.0, 0.0, 0.0)
        by_turn.append(TurnScore(turn, sum(c.c for c in counts), estimate))
    actions = collections.Counter(r.action for t in task_ids for r in turns.get(t, ()))
    pairs = [(h[i - 1], h[i]) for t in task_ids for h in (turns.get(t, ()),) for i in range(1, len(h))]
    repeats = sum(1 for before, after in pairs if after.program == before.program)
    return DialogResults(config, len(task_ids), sum(o.ended is not None for o in outcomes), tuple(by_turn),
                         dict(actions), outcomes, stopped, wall_s, len(pairs), repeats)
