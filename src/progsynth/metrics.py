"""Scores from verdicts: unbiased pass@k (Chen et al., 2021), the paper's two headline numbers,
and percentile-bootstrap confidence intervals over tasks.

The paper (Austin et al., 2021) reports "% of tasks solved by any sample" (a task counts if at
least one of its samples passes) and "% of samples that solve" (all samples pooled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n passes.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the huge binomials of
    ``1 - C(n-c, k) / C(n, k)`` and so stays exact in floating point for n in the thousands.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


@dataclass(frozen=True)
class Estimate:
    """A point estimate (a fraction in [0, 1]) with a 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def to_json(self) -> dict[str, Any]:
        return {"value": round(self.value, 6), "ci95": [round(self.low, 6), round(self.high, 6)]}


@dataclass(frozen=True)
class TaskCounts:
    """Samples and passing samples of one task."""

    task_id: str
    n: int
    c: int


def default_ks(min_n: int) -> list[int]:
    """The k values that the smallest per-task sample count allows (1, 10, 100 and n)."""
    ks = [k for k in (1, 10, 100) if k <= min_n]
    if min_n not in ks and min_n > 0:
        ks.append(min_n)
    return ks


def _bootstrap(per_task: np.ndarray, weights: np.ndarray | None, reps: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the (weighted) mean of ``per_task`` over resampled task sets."""
    m = len(per_task)
    if m == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, m, size=(reps, m))
    if weights is None:
        means = per_task[idx].mean(axis=1)
    else:
        w = weights[idx]
        means = (per_task[idx] * w).sum(axis=1) / np.maximum(w.sum(axis=1), 1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarize(
    counts: Sequence[TaskCounts], ks: Sequence[int] | None = None, reps: int = 2000, seed: int = 0
) -> dict[str, Estimate]:
    """pass@k for each k, ``solved_any`` and ``samples_pass``, each with a bootstrap CI.

    Tasks with no samples are counted as unsolved (n=0 contributes 0 to every metric) so a model
    that failed to generate for a task is not rewarded by dropping it.
    """
    if not counts:
        return {}
    n = np.array([t.n for t in counts], dtype=np.int64)
    c = np.array([t.c for t in counts], dtype=np.int64)
    min_n = int(n[n > 0].min()) if (n > 0).any() else 0
    out: dict[str, Estimate] = {}
    for k in ks if ks is not None else default_ks(min_n):
        vals = np.array([pass_at_k(a, b, k) if a >= k else 0.0 for a, b in zip(n, c, strict=True)])
        low, high = _bootstrap(vals, None, reps, seed)
        out[f"pass@{k}"] = Estimate(float(vals.mean()), low, high)
    solved = (c > 0).astype(np.float64)
    out["solved_any"] = Estimate(float(solved.mean()), *_bootstrap(solved, None, reps, seed))
    frac = np.divide(c, np.maximum(n, 1), dtype=np.float64)
    pooled = float(c.sum() / n.sum()) if n.sum() else 0.0
    out["samples_pass"] = Estimate(pooled, *_bootstrap(frac, n.astype(np.float64), reps, seed))
    return out
