"""The model's predictions, one JSONL line each, scored as they are stored.

``predictions.jsonl`` holds one record per condition, task and assert (``task_id``, ``sample_idx``
= the assert's index, as in every progsynth store, plus ``condition``, the raw text, the parsed
value's repr or the reason it did not parse, and both scores). A rerun reads it first and asks the
model only for what is missing, so an interrupted run resumes and nothing is ever stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progsynth.errors import DataError
from progsynth.experiments.exec_predict.facts import Fact
from progsynth.experiments.exec_predict.prompts import Condition
from progsynth.experiments.exec_predict.scoring import Unparsed, exact, parse_prediction, tolerant
from progsynth.store.jsonl import AppendOnlyStore, JsonlWriter, iter_records
from progsynth.types import Completion, FinishReason

PREDICTIONS_FILE = "predictions.jsonl"


@dataclass(frozen=True)
class Prediction:
    """One scored prediction; ``parsed`` is the repr of the parsed value, or None with ``unparsed``
    saying why (a recorded failure, scored wrong)."""

    task_id: str
    index: int
    condition: Condition
    raw: str
    finish_reason: str
    prompt_hash: str
    parsed: str | None
    unparsed: str | None
    exact: bool
    tolerant: bool
    tokens: int | None = None

    @property
    def key(self) -> tuple[Condition, str, int]:
        return (self.condition, self.task_id, self.index)

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "sample_idx": self.index, "condition": self.condition.value,
                "raw": self.raw, "finish_reason": self.finish_reason, "prompt_hash": self.prompt_hash,
                "parsed": self.parsed, "unparsed": self.unparsed, "exact": self.exact, "tolerant": self.tolerant,
                "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Prediction:
        return cls(str(data["task_id"]), int(data["sample_idx"]), Condition(data["condition"]), str(data["raw"]),
                   str(data["finish_reason"]), str(data.get("prompt_hash", "")), data.get("parsed"),
                   data.get("unparsed"), bool(data["exact"]), bool(data["tolerant"]), data.get("tokens"))


def score(fact: Fact, condition: Condition, completion: Completion, prompt_hash: str) -> Prediction:
    """Parse and score one completion against ``fact`` (a LITERAL fact)."""
    head = (fact.task_id, fact.index, condition, completion.text, completion.finish_reason.value, prompt_hash)
    if completion.finish_reason is FinishReason.ERROR:
        return Prediction(*head, None, f"generation error: {completion.error or 'unknown'}", False, False,
                          completion.tokens)
    value = parse_prediction(completion.text)
    if isinstance(value, Unparsed):
        reason = value.reason
        if completion.finish_reason is FinishReason.LENGTH and "\n" not in completion.text:
            reason += "; cut by the token limit"
        return Prediction(*head, None, reason, False, False, completion.tokens)
    truth = fact.value()
    return Prediction(*head, repr(value)[:2000], None, exact(value, truth), tolerant(value, truth), completion.tokens)


class PredictionStore(AppendOnlyStore):
    """``predictions.jsonl``, read at open: ``has`` says what a resumed run may skip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.predictions: dict[tuple[Condition, str, int], Prediction] = {}
        if path.exists():
            for line, record in iter_records(path):
                try:
                    prediction = Prediction.from_json(record)
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataError(path, f"not a prediction ({type(exc).__name__}: {exc})", line=line) from None
                self.predictions.setdefault(prediction.key, prediction)
        self._writer = JsonlWriter(path)

    def has(self, condition: Condition, fact: Fact) -> bool:
        return (condition, fact.task_id, fact.index) in self.predictions

    def add(self, prediction: Prediction) -> None:
        if prediction.key in self.predictions:
            return
        self.predictions[prediction.key] = prediction
        self._writer.append(prediction.to_json())
