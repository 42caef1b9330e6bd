"""The typed summary of an execution-prediction run (``exec_predict.json``, schema
``progsynth.exec_predict/1``): what the facts were, and per condition how often the model was right.

Accuracy is over the usable (LITERAL) facts of the evaluated tasks that have a prediction; an
unparseable prediction counts as wrong and is also counted on its own. The 95% intervals resample
tasks, not asserts (``metrics.summarize``'s pooled ``samples_pass`` with asserts as a task's
samples), because a task's asserts share one program and are not independent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from progsynth.errors import DataError
from progsynth.experiments.exec_predict.facts import Fact, OutputKind
from progsynth.experiments.exec_predict.predictions import Prediction
from progsynth.experiments.exec_predict.prompts import Condition
from progsynth.metrics import Estimate, TaskCounts, summarize

SCHEMA = "progsynth.exec_predict/1"
RESULTS_FILE = "exec_predict.json"


def _estimate(data: Mapping[str, Any]) -> Estimate:
    low, high = data["ci95"]
    return Estimate(float(data["value"]), float(low), float(high))


@dataclass(frozen=True)
class FactSummary:
    """The facts of the evaluated tasks: how many asserts, how many scored, why the rest are not."""

    tasks: int
    asserts: int
    usable: int
    kinds: Mapping[str, int]
    assert_disagrees: int  # asserts whose written expectation the reference does not meet

    def to_json(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "asserts": self.asserts, "usable": self.usable, "kinds": dict(self.kinds),
                "assert_disagrees": self.assert_disagrees}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FactSummary:
        return cls(int(data["tasks"]), int(data["asserts"]), int(data["usable"]), dict(data["kinds"]),
                   int(data["assert_disagrees"]))

    @classmethod
    def of(cls, facts: Sequence[Fact]) -> FactSummary:
        kinds = Counter(f.kind.value for f in facts)
        return cls(len({f.task_id for f in facts}), len(facts), kinds.get(OutputKind.LITERAL.value, 0),
                   dict(sorted(kinds.items())), sum(f.assert_holds is False for f in facts))


@dataclass(frozen=True)
class ConditionScore:
    """One condition's accuracy (exact and tolerant, with 95% CIs over tasks) and its failures."""

    condition: Condition
    predictions: int
    tasks: int
    exact: Estimate
    tolerant: Estimate
    unparsed: int
    unparsed_reasons: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"condition": self.condition.value, "predictions": self.predictions, "tasks": self.tasks,
                "exact": self.exact.to_json(), "tolerant": self.tolerant.to_json(), "unparsed": self.unparsed,
                "unparsed_reasons": dict(self.unparsed_reasons)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConditionScore:
        return cls(Condition(data["condition"]), int(data["predictions"]), int(data["tasks"]),
                   _estimate(data["exact"]), _estimate(data["tolerant"]), int(data["unparsed"]),
                   dict(data.get("unparsed_reasons") or {}))


def _rate(preds: Sequence[Prediction], correct: str) -> Estimate:
    per_task: dict[str, list[int]] = {}
    for p in preds:
        counts = per_task.setdefault(p.task_id, [0, 0])
        counts[0] += 1
        counts[1] += int(p.exact if correct == "exact" else p.tolerant)
    estimates = summarize([TaskCounts(t, n, c) for t, (n, c) in per_task.items()], ks=[])
    return estimates.get("samples_pass", Estimate(0.0, 0.0, 0.0))


def score_condition(condition: Condition, preds: Sequence[Prediction]) -> ConditionScore:
    reasons = Counter((p.unparsed or "").split(" (")[0] for p in preds if p.unparsed is not None)
    return ConditionScore(condition, len(preds), len({p.task_id for p in preds}), _rate(preds, "exact"),
                          _rate(preds, "tolerant"), sum(reasons.values()), dict(reasons.most_common()))


@dataclass(frozen=True)
class ExecPredictResults:
    """The whole document (see the module docstring); ``conditions`` in ``Condition`` order."""

    created: str
    config: Mapping[str, Any]
    model: Mapping[str, Any]
    facts: FactSummary
    conditions: tuple[ConditionScore, ...]
    wall_s: float = 0.0
    environment: Mapping[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema, "created": self.created, "config": dict(self.config),
                "model": dict(self.model), "facts": self.facts.to_json(),
                "conditions": [c.to_json() for c in self.conditions], "wall_s": self.wall_s,
                "environment": dict(self.environment)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: object = RESULTS_FILE) -> ExecPredictResults:
        if data.get("schema") != SCHEMA:
            raise DataError(path, f"expected schema {SCHEMA}, got {data.get('schema')!r}")
        try:
            return cls(str(data["created"]), dict(data["config"]), dict(data["model"]),
                       FactSummary.from_json(data["facts"]),
                       tuple(ConditionScore.from_json(c) for c in data["conditions"]),
                       float(data.get("wall_s", 0.0)), dict(data.get("environment") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(path, f"malformed results ({type(exc).__name__}: {exc})") from None


def build_results(created: str, config: Mapping[str, Any], model: Mapping[str, Any], facts: Sequence[Fact],
                  predictions: Iterable[Prediction], conditions: Sequence[Condition], wall_s: float,
                  environment: Mapping[str, Any]) -> ExecPredictResults:
    """The document over ``facts`` (the evaluated tasks') and their predictions per condition."""
    wanted = {f.key for f in facts if f.kind.usable}
    by_condition: dict[Condition, list[Prediction]] = {c: [] for c in conditions}
    for p in predictions:
        if p.condition in by_condition and (p.task_id, p.index) in wanted:
            by_condition[p.condition].append(p)
    scores = tuple(score_condition(c, by_condition[c]) for c in Condition if c in by_condition)
    return ExecPredictResults(created, config, model, FactSummary.of(facts), scores, wall_s, environment)
