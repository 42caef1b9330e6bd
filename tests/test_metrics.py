"""pass@k against brute-force enumeration, and the paper's two aggregate numbers."""

from __future__ import annotations

import itertools
import math

import pytest

from progsynth.metrics import TaskCounts, default_ks, pass_at_k, summarize


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (c of them correct) that contain a correct one."""
    outcomes = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # 1 - C(n-c,k)/C(n,k) with exact integers as the ground truth
    n, c, k = 2000, 3, 100
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)
    assert pass_at_k(80, 0, 1) == 0.0 and pass_at_k(80, 80, 1) == 1.0
    assert pass_at_k(80, 40, 1) == pytest.approx(0.5)


def test_pass_at_k_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_summary_numbers_and_intervals() -> None:
    counts = [TaskCounts("a", 4, 0), TaskCounts("b", 4, 1), TaskCounts("c", 4, 4), TaskCounts("d", 4, 2)]
    out = summarize(counts, reps=500)
    assert set(out) == {"pass@1", "pass@4", "solved_any", "samples_pass"}
    assert out["solved_any"].value == pytest.approx(0.75)
    assert out["samples_pass"].value == pytest.approx(7 / 16)
    assert out["pass@1"].value == pytest.approx((0 + 0.25 + 1 + 0.5) / 4)
    assert out["pass@4"].value == pytest.approx(0.75)
    for est in out.values():
        assert 0.0 <= est.low <= est.value <= est.high <= 1.0
    assert out["solved_any"].low < out["solved_any"].high


def test_tasks_without_samples_count_as_unsolved() -> None:
    out = summarize([TaskCounts("a", 1, 1), TaskCounts("b", 0, 0)], reps=100)
    assert out["solved_any"].value == 0.5
    assert out["pass@1"].value == 0.5


def test_default_ks() -> None:
    assert default_ks(1) == [1]
    assert default_ks(80) == [1, 10, 80]
    assert default_ks(100) == [1, 10, 100]
