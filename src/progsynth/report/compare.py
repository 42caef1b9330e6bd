"""Two runs side by side with paired statistics over their common tasks.

Runs on the same tasks are paired data: a task that is hard for one run is hard for the other, so
the tests resample or count *tasks*, not samples. pass@k deltas get a paired bootstrap interval
(the same task indices drawn for both runs); "solved by any sample" gets McNemar's exact test, which
looks only at the tasks that flipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from progsynth.metrics import pass_at_k
from progsynth.report.analysis import PAPER_KS
from progsynth.report.load import RunData

BOOTSTRAP_REPS = 10_000


@dataclass(frozen=True)
class Delta:
    """``b - a`` for one metric, with its 95% paired-bootstrap interval and two-sided p-value."""

    metric: str
    a: float
    b: float
    low: float
    high: float
    p_value: float

    @property
    def delta(self) -> float:
        return self.b - self.a


@dataclass(frozen=True)
class McNemar:
    """Per-task solved (any sample) in both runs: the 2x2 table and the exact two-sided p-value."""

    both: int
    a_only: int
    b_only: int
    neither: int
    p_value: float


@dataclass(frozen=True)
class Comparison:
    """Run b against run a over their common tasks: deltas, the McNemar table, the flipped tasks."""

    label_a: str
    label_b: str
    tasks: int
    deltas: tuple[Delta, ...]
    mcnemar: McNemar
    gained: tuple[str, ...]  # solved by b only
    lost: tuple[str, ...]  # solved by a only


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial(a_only + b_only, 1/2) test on the discordant tasks."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / (1 << n)
    return min(1.0, 2.0 * tail)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], reps: int = BOOTSTRAP_REPS,
                     seed: int = 0) -> tuple[float, float, float]:
    """95% percentile interval of ``mean(b) - mean(a)`` over task sets resampled with the same
    indices for both runs, and the two-sided bootstrap p-value of "no difference"."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError("paired samples must have the same length")
    if len(x) == 0:
        return 0.0, 0.0, 1.0
    diff = y - x
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(reps, len(diff)))
    return interval_and_p(diff[idx].mean(axis=1))


def interval_and_p(draws: np.ndarray) -> tuple[float, float, float]:
    """The 95% percentile interval of bootstrap draws of a difference, and the two-sided p-value of
    "no difference" (1.0 when every draw is exactly zero)."""
    low, high = np.percentile(draws, [2.5, 97.5])
    if np.all(draws == 0):
        return float(low), float(high), 1.0
    p = min(1.0, 2 * min(float(np.mean(draws <= 0)), float(np.mean(draws >= 0))))
    return float(low), float(high), p


def _delta(name: str, a: Sequence[float], b: Sequence[float], seed: int) -> Delta:
    low, high, p = paired_bootstrap(a, b, seed=seed)
    return Delta(name, float(np.mean(a)) if len(a) else 0.0, float(np.mean(b)) if len(b) else 0.0, low, high, p)


def compare(run_a: RunData, run_b: RunData, seed: int = 0) -> Comparison:
    """Deltas over the tasks both runs have samples for (task order of ``run_a``)."""
    tb = {t.task_id: t for t in run_b.tasks if t.n}
    pairs = [(t, tb[t.task_id]) for t in run_a.tasks if t.n and t.task_id in tb]
    min_n = min((min(x.n, y.n) for x, y in pairs), default=0)
    deltas = [_delta(f"pass@{k}", [pass_at_k(x.n, x.c, k) for x, _ in pairs],
                     [pass_at_k(y.n, y.c, k) for _, y in pairs], seed)
              for k in PAPER_KS if k <= min_n]
    solved_a = [float(x.c > 0) for x, _ in pairs]
    solved_b = [float(y.c > 0) for _, y in pairs]
    deltas.append(_delta("solved_any", solved_a, solved_b, seed))
    rate_a, rate_b = [x.c / x.n for x, _ in pairs], [y.c / y.n for _, y in pairs]
    deltas.append(_delta("samples_pass (task mean)", rate_a, rate_b, seed))
    gained = tuple(x.task_id for x, y in pairs if not x.c and y.c)
    lost = tuple(x.task_id for x, y in pairs if x.c and not y.c)
    both = sum(1 for x, y in pairs if x.c and y.c)
    table = McNemar(both, len(lost), len(gained), len(pairs) - both - len(lost) - len(gained),
                    mcnemar_exact(len(lost), len(gained)))
    return Comparison(run_a.label, run_b.label, len(pairs), tuple(deltas), table, gained, lost)


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}%" if x else "+0.0%"


def comparison_text(cmp: Comparison, most: int = 30) -> str:
    """The terminal view of ``progsynth compare``."""
    lines = [f"A: {cmp.label_a}", f"B: {cmp.label_b}", f"{cmp.tasks} tasks in common", "",
             f"  {'metric':<26}{'A':>8}{'B':>8}{'B-A':>8}   95% CI (paired bootstrap)   p"]
    for d in cmp.deltas:
        lines.append(f"  {d.metric:<26}{100 * d.a:>7.1f}%{100 * d.b:>7.1f}%{_pct(d.delta):>8}   "
                     f"[{_pct(d.low)}, {_pct(d.high)}]{'':<14}{d.p_value:.4f}")
    m = cmp.mcnemar
    lines += ["", f"  solved by both {m.both}, A only {m.a_only}, B only {m.b_only}, neither {m.neither}; "
                  f"McNemar exact p = {m.p_value:.4g}"]
    for title, ids in (("solved by B only", cmp.gained), ("solved by A only", cmp.lost)):
        if ids:
            shown = ", ".join(ids[:most]) + (f", ... ({len(ids) - most} more)" if len(ids) > most else "")
            lines.append(f"  {title} ({len(ids)}): {shown}")
    return "\n".join(lines)
