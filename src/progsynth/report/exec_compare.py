"""Two execution-prediction outputs side by side: ``progsynth compare A B`` when both are
``progsynth exec-predict`` directories (a base model and its tuned adapter, two prompts, two models).

The unit is one assert of one task in one condition, scored exactly as each directory scored it
(``exact``). Only the asserts both directories predicted in the same condition, with a usable fact
(a literal output) in both, are compared, so the two accuracies are over the same items. A task's
asserts share one program and are not independent, so the interval and its p-value resample
*tasks* with their asserts (a paired cluster bootstrap of the pooled accuracy difference), as
``exec_predict.json`` does for a single run; McNemar's exact test on the discordant asserts is shown
beside it as the familiar count, with that caveat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from progsynth.errors import DataError
from progsynth.experiments.exec_predict.facts import FACTS_FILE, Fact
from progsynth.experiments.exec_predict.predictions import PREDICTIONS_FILE, Prediction
from progsynth.experiments.exec_predict.prompts import Condition
from progsynth.experiments.exec_predict.results import RESULTS_FILE
from progsynth.report.compare import BOOTSTRAP_REPS, interval_and_p, mcnemar_exact
from progsynth.store.jsonl import iter_records

T = TypeVar("T")
#: (condition, task_id, assert index) -> predicted exactly
Scored = Mapping[tuple[Condition, str, int], bool]


@dataclass(frozen=True)
class ConditionDelta:
    """B against A in one condition over their common asserts."""

    condition: Condition
    tasks: int
    asserts: int
    a: float
    b: float
    low: float
    high: float
    p_value: float
    a_only: int  # asserts only A predicted exactly
    b_only: int
    mcnemar_p: float

    @property
    def delta(self) -> float:
        return self.b - self.a


def is_exec_predict_dir(path: Path) -> bool:
    return (path / RESULTS_FILE).is_file() and (path / PREDICTIONS_FILE).is_file()


def _read(path: Path, parse: Callable[[dict[str, Any]], T], what: str) -> Iterator[T]:
    """Each record of a JSONL file parsed; a malformed one is a DataError naming file and line."""
    for line, data in iter_records(path):
        try:
            yield parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(path, f"malformed {what} ({exc})", line=line) from None


def load_scored(out_dir: Path) -> Scored:
    """Every prediction of ``out_dir`` whose fact is usable, keyed by condition, task and assert."""
    usable = {f.key for f in _read(out_dir / FACTS_FILE, Fact.from_json, "fact") if f.kind.usable}
    return {p.key: p.exact for p in _read(out_dir / PREDICTIONS_FILE, Prediction.from_json, "prediction")
            if (p.task_id, p.index) in usable}


def cluster_bootstrap(by_task: list[tuple[int, int, int]], reps: int = BOOTSTRAP_REPS,
                      seed: int = 0) -> tuple[float, float, float]:
    """95% interval and two-sided p of the pooled difference sum(b - a) / sum(n) over tasks drawn
    with replacement; ``by_task`` holds (asserts, right in A, right in B) per task."""
    counts = np.asarray(by_task, dtype=np.float64)
    if len(counts) == 0:
        return 0.0, 0.0, 1.0
    idx = np.random.default_rng(seed).integers(0, len(counts), size=(reps, len(counts)))
    drawn = counts[idx].sum(axis=1)
    return interval_and_p((drawn[:, 2] - drawn[:, 1]) / drawn[:, 0])


def compare_exec(a: Scored, b: Scored, seed: int = 0) -> list[ConditionDelta]:
    """One delta per condition both directories predicted (``Condition`` order)."""
    out = []
    for condition in Condition:
        keys = [k for k in a if k[0] is condition and k in b]
        if not keys:
            continue
        per_task: dict[str, list[int]] = {}
        for key in keys:
            counts = per_task.setdefault(key[1], [0, 0, 0])
            counts[0] += 1
            counts[1] += int(a[key])
            counts[2] += int(b[key])
        low, high, p = cluster_bootstrap([(n, x, y) for n, x, y in per_task.values()], seed=seed)
        a_only = sum(1 for k in keys if a[k] and not b[k])
        b_only = sum(1 for k in keys if b[k] and not a[k])
        out.append(ConditionDelta(condition, len(per_task), len(keys), sum(a[k] for k in keys) / len(keys),
                                  sum(b[k] for k in keys) / len(keys), low, high, p, a_only, b_only,
                                  mcnemar_exact(a_only, b_only)))
    return out


def exec_comparison_text(label_a: str, label_b: str, deltas: list[ConditionDelta]) -> str:
    """The terminal view of ``progsynth compare`` for two exec-predict directories."""
    lines = [f"A: {label_a}", f"B: {label_b}", "execution prediction, exact match, over the asserts both predicted", "",
             f"  {'condition':<18}{'tasks':>6}{'asserts':>8}{'A':>8}{'B':>8}{'B-A':>8}   "
             f"{'95% CI (tasks resampled)':<26}{'p':>8}{'A only':>8}{'B only':>8}  McNemar p"]
    for d in deltas:
        lines.append(f"  {d.condition.value:<18}{d.tasks:>6}{d.asserts:>8}{100 * d.a:>7.1f}%{100 * d.b:>7.1f}%"
                     f"{100 * d.delta:>+7.1f}%   {f'[{100 * d.low:+.1f}%, {100 * d.high:+.1f}%]':<26}"
                     f"{d.p_value:>8.4f}{d.a_only:>8}{d.b_only:>8}  {d.mcnemar_p:.4g}")
    return "\n".join(lines)
