"""``progsynth compare``'s statistics against values computed by hand, and the taxonomy's rules, on
small made-up runs (no execution)."""

from __future__ import annotations

from pathlib import Path

import pytest

from progsynth.report.analysis import Category, categorize, taxonomy
from progsynth.report.compare import compare, comparison_text, mcnemar_exact, paired_bootstrap
from progsynth.report.load import RunData, TaskRecord
from progsynth.store.verdicts import Suite, VerdictRecord
from progsynth.types import FinishReason, Sample
from progsynth.verdicts import Status, Verdict


def _rec(task: str, idx: int, status: Status, **kw: object) -> VerdictRecord:
    return VerdictRecord(task, idx, Suite.TESTS, Verdict(status, **kw), "")  # type: ignore[arg-type]


def _run(label: str, outcomes: dict[str, list[bool]]) -> RunData:
    tasks = tuple(TaskRecord(tid, tuple(Sample(tid, "", i) for i in range(len(o))),
                             {i: _rec(tid, i, Status.PASSED if ok else Status.FAILED) for i, ok in enumerate(o)}, {})
                  for tid, o in outcomes.items())
    return RunData(Path(label), label, {"benchmark": "mbpp", "split": "test"}, None, tasks)


def test_mcnemar_exact_matches_hand_computed_binomial_tails() -> None:
    # 1 vs 5 discordant tasks: 2 * (C(6,0) + C(6,1)) / 2^6 = 2 * 7/64
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    # 0 vs 10: 2 / 1024
    assert mcnemar_exact(0, 10) == pytest.approx(2 / 1024)
    # balanced: capped at 1; no discordant pair: 1
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    # 2 vs 8: 2 * (1 + 10 + 45) / 1024
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024)


def test_paired_bootstrap_of_a_constant_difference_is_that_difference() -> None:
    low, high, p = paired_bootstrap([0.1, 0.5, 0.9, 0.3], [0.3, 0.7, 1.1, 0.5], reps=500)
    assert low == pytest.approx(0.2) and high == pytest.approx(0.2)
    assert p == 0.0
    low, high, p = paired_bootstrap([0.5, 0.2], [0.5, 0.2], reps=500)
    assert (low, high, p) == (0.0, 0.0, 1.0)


def test_paired_bootstrap_interval_brackets_the_mean_difference() -> None:
    a = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    b = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]  # two tasks gained, none lost
    low, high, p = paired_bootstrap(a, b, reps=4000, seed=1)
    assert low >= 0.0 and low <= 0.25 <= high <= 0.625
    # the difference is 0 only when neither gained task is drawn: (6/8)^8 = 0.100, doubled
    assert p == pytest.approx(2 * 0.75**8, abs=0.03)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 0.0])


def test_compare_runs_deltas_flips_and_mcnemar() -> None:
    a = _run("a", {"t1": [True, False], "t2": [False, False], "t3": [True, True], "t4": [True, False]})
    b = _run("b", {"t1": [True, True], "t2": [True, False], "t3": [False, False], "t4": [True, False],
                   "t5": [True, True]})
    cmp = compare(a, b, seed=0)
    assert cmp.tasks == 4  # t5 is only in b
    assert cmp.gained == ("t2",) and cmp.lost == ("t3",)
    m = cmp.mcnemar
    assert (m.both, m.a_only, m.b_only, m.neither) == (2, 1, 1, 0)
    assert m.p_value == 1.0
    by_name = {d.metric: d for d in cmp.deltas}
    assert set(by_name) == {"pass@1", "solved_any", "samples_pass (task mean)"}
    # pass@1 per task = c/n: a = (.5, 0, 1, .5) -> .5; b = (1, .5, 0, .5) -> .5
    assert by_name["pass@1"].a == pytest.approx(0.5) and by_name["pass@1"].delta == pytest.approx(0.0)
    assert by_name["solved_any"].a == 0.75 and by_name["solved_any"].b == 0.75
    text = comparison_text(cmp)
    assert "4 tasks in common" in text and "solved by B only (1): t2" in text and "solved by A only (1): t3" in text


def test_taxonomy_files_a_cut_generation_as_truncated_whatever_its_error() -> None:
    cut = Sample("t", "def f(:", 0, finish_reason=FinishReason.LENGTH)
    assert categorize(_rec("t", 0, Status.SYNTAX_ERROR), cut) is Category.TRUNCATED
    assert categorize(_rec("t", 0, Status.PASSED), cut) is Category.PASSED
    assert categorize(_rec("t", 0, Status.ERROR), None) is Category.RUNTIME_ERROR
    assert categorize(_rec("t", 0, Status.KILLED), Sample("t", "", 0)) is Category.KILLED


def test_taxonomy_counts_error_types_and_which_assert_failed() -> None:
    recs = {0: _rec("t", 0, Status.ERROR, error_type="NameError"), 1: _rec("t", 1, Status.ERROR, error_type="NameError"),
            2: _rec("t", 2, Status.FAILED, failed_test=2), 3: _rec("t", 3, Status.TIMEOUT),
            4: _rec("t", 4, Status.ERROR, error_type="TypeError"), 5: _rec("t", 5, Status.PASSED)}
    run = RunData(Path("r"), "r", {}, None, (TaskRecord("t", tuple(Sample("t", "", i) for i in recs), recs, {}),))
    tax = taxonomy(run)
    assert tax.samples == 6
    assert tax.counts[Category.RUNTIME_ERROR] == 3 and tax.counts[Category.TIMEOUT] == 1
    assert tax.counts[Category.PASSED] == 1 and tax.counts[Category.SYNTAX_ERROR] == 0
    assert tax.runtime_errors == {"NameError": 2, "TypeError": 1}
    assert tax.failed_asserts == {2: 1}
