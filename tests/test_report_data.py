"""The report's analyses on real run directories: a reference-backend run, and a hand-made samples
file scored with ``progsynth evaluate`` that fails in every way the taxonomy knows (syntax, runtime,
assertion, timeout, killed, cut by the token limit), hard-codes the asserts, and passes the shown
asserts while failing MBPP's held-out challenge tests. ``report_runs`` is shared with the browser test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.report.analysis import Category, headlines, overfitting, task_sets, taxonomy
from progsynth.report.hardcode import HardcodeKind
from progsynth.report.load import RunData, load_run

TASKS = ["Mbpp/11", "Mbpp/12", "Mbpp/13", "Mbpp/14", "Mbpp/15", "Mbpp/16", "Mbpp/17", "Mbpp/18"]
HARDCODED = ('def remove_Occ(s, ch):\n    if s == "hello":\n        return "heo"\n'
             '    if s == "abcda":\n        return "bcd"\n    return "H"\n')
#: task -> (completion, finish_reason) of sample 1; sample 0 of every task is its reference
FAILURES = {
    "Mbpp/11": ('def remove_Occ(s, ch):\n    return s.replace(ch, "")\n', "stop"),  # fails challenge tests only
    "Mbpp/12": ("def sort_matrix(M:\n    return sorted(M)\n", "stop"),
    "Mbpp/13": ("def count_common(words):\n    return most_common(words)\n", "stop"),
    "Mbpp/14": ("def find_Volume(l, b, h):\n    return l * b * h\n", "stop"),
    "Mbpp/15": ("def split_lowerstring(text):\n    while True:\n        pass\n", "stop"),
    "Mbpp/16": ("import os, signal\ndef text_lowercase_underscore(text):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
                "stop"),
    "Mbpp/17": ("def square_perimeter(a):\n    perimeter = 4 *", "length"),
    "Mbpp/18": ("def remove_dirty_chars(string, second):\n    return string - second\n", "stop"),
}


def progsynth(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "progsynth", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunData, RunData]:
    """(reference run, hand-made run), both real run directories read back with ``load_run``."""
    root = tmp_path_factory.mktemp("report-runs")
    data = data_config_from_env()
    problems = {p.task_id: p for p in get_benchmark("mbpp").load("test", data) if p.task_id in TASKS}
    lines = []
    for tid in TASKS:
        lines.append({"task_id": tid, "completion": problems[tid].reference_completion, "sample_idx": 0})
        completion, finish = FAILURES[tid]
        lines.append({"task_id": tid, "completion": completion, "sample_idx": 1, "finish_reason": finish})
    lines.append({"task_id": "Mbpp/11", "completion": HARDCODED, "sample_idx": 2})
    samples = root / "handmade.jsonl"
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    task_flags = [a for tid in TASKS for a in ("--task-id", tid)]
    progsynth("run", "--backend", "reference", "--out", str(root / "reference"), "-q", *task_flags)
    progsynth("evaluate", "--samples", str(samples), "--out", str(root / "handmade"), "--timeout", "1", "-q",
              *task_flags)
    return load_run(root / "reference", data), load_run(root / "handmade", data)


@pytest.mark.slow
def test_taxonomy_counts_each_kind_of_failure(report_runs: tuple[RunData, RunData]) -> None:
    _, run = report_runs
    tax = taxonomy(run)
    assert tax.samples == 17
    assert tax.counts[Category.PASSED] == 10  # 8 references, the replace() one and the hard-coded one
    for cat in (Category.SYNTAX_ERROR, Category.TIMEOUT, Category.KILLED, Category.TRUNCATED, Category.ASSERTION):
        assert tax.counts[cat] == 1, cat
    assert tax.counts[Category.RUNTIME_ERROR] == 2
    assert tax.runtime_errors == {"NameError": 1, "TypeError": 1}
    assert tax.failed_asserts == {0: 1}


@pytest.mark.slow
def test_overfitting_finds_challenge_misses_and_hard_coding(report_runs: tuple[RunData, RunData]) -> None:
    reference, run = report_runs
    over = overfitting(run)
    assert {(m.task_id, m.sample_idx) for m in over.challenge_misses} == {("Mbpp/11", 1), ("Mbpp/11", 2)}
    assert [(h.task_id, h.sample_idx, h.passed) for h in over.hardcoded] == [("Mbpp/11", 2, True)]
    assert {f.kind for f in over.hardcoded[0].findings} == {HardcodeKind.RETURNS_EXPECTED,
                                                           HardcodeKind.BRANCHES_ON_INPUT}
    assert overfitting(reference).hardcoded == () and overfitting(reference).challenge_misses == ()


@pytest.mark.slow
def test_headlines_and_task_sets(report_runs: tuple[RunData, RunData]) -> None:
    reference, run = report_runs
    [row] = headlines(run)
    assert (row.tasks, row.samples) == (8, 17)
    assert run.results is not None
    assert row.metrics["pass@1"].value == pytest.approx(run.results.overall.metrics["pass@1"].value)
    assert row.metrics["solved_any"].value == 1.0
    sets = task_sets([reference, run])
    assert len(sets.solved_by_all) == 8 and sets.unsolved == {"reference": (), "handmade": ()}
    assert sets.hardest[0][1] == pytest.approx(0.75)  # a task with 1 of 2 samples passing, averaged with 1.0


@pytest.mark.slow
def test_report_and_compare_commands(report_runs: tuple[RunData, RunData], tmp_path: Path) -> None:
    reference, run = report_runs
    out = tmp_path / "r" / "report.html"
    done = subprocess.run([sys.executable, "-m", "progsynth", "report", str(run.path), str(reference.path),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"report: {out}" in done.stdout
    for name in ("pass_at_k", "errors", "difficulty"):
        assert (tmp_path / "r" / "report_plots" / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / "r" / "report_plots" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    html = out.read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    done = subprocess.run([sys.executable, "-m", "progsynth", "compare", str(reference.path), str(run.path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "8 tasks in common" in done.stdout and "McNemar exact p = 1" in done.stdout


def test_a_run_without_benchmark_data_still_reports(tmp_path: Path) -> None:
    """A samples file scored elsewhere: only verdicts.jsonl and an unknown benchmark."""
    run_dir = tmp_path / "foreign"
    run_dir.mkdir()
    verdicts = [{"task_id": "t1", "sample_idx": i, "suite": "tests", "status": s, "tests": []}
                for i, s in enumerate(["passed", "failed", "error"])]
    (run_dir / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    run = load_run(run_dir, data_config_from_env())
    assert run.results is None and run.tasks[0].n == 3 and run.tasks[0].c == 1
    assert any("results.json" in n for n in run.notes)
    from progsynth.report.html import write_report

    files = write_report([run], tmp_path / "out.html")
    assert "t1" in files.html.read_text()
