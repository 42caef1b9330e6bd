"""The run's own pieces in isolation: the judging stage, the verdict store's reuse rule, the results
builder and ``--fresh``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from progsynth.benchmarks import get_benchmark
from progsynth.execution.api import ExecRequest, Executor, Limits
from progsynth.machine import environment
from progsynth.run.judging import LOST_MESSAGE, ExecJob, JudgingStage, exec_jobs
from progsynth.store.results import Results, RunInfo, build_results
from progsynth.store.verdicts import Suite, VerdictRecord, VerdictStore
from progsynth.types import Problem, Sample
from progsynth.verdicts import Status, Verdict


class ScriptedExecutor(Executor):
    """Answers PASSED for every request except those whose program contains ``skip`` (no answer)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        for req in requests:
            self.seen.append(req.program)
            if "skip" not in req.program:
                yield req.key, Verdict(Status.PASSED)


def _problem(task_id: str, split: str = "test", challenge: tuple[str, ...] = ()) -> Problem:
    return Problem(task_id, "t", split, "text", "def f():\n    return 1\n", ("assert f() == 1",),
                   challenge_tests=challenge)


def _jobs(problem: Problem, completion: str, idx: int = 0) -> list[ExecJob]:
    return exec_jobs(get_benchmark("mbpp"), problem, Sample(problem.task_id, completion, idx), Limits(), True)


def test_a_request_the_executor_never_answers_is_recorded_as_killed(tmp_path: Path) -> None:
    seen: list[tuple[str, Status]] = []
    with VerdictStore(tmp_path / "v.jsonl") as store:
        stage = JudgingStage(ScriptedExecutor(), store, lambda job, v: seen.append((job.task_id, v.status)))
        stage.start()
        stage.submit(_jobs(_problem("A"), "x = 1\n"))
        stage.submit(_jobs(_problem("B"), "skip = 1\n"))
        stage.close()
    records = {r.task_id: r for r in VerdictStore(tmp_path / "v.jsonl").records.values()}
    assert records["A"].verdict.status is Status.PASSED
    assert records["B"].verdict.status is Status.KILLED and records["B"].verdict.message == LOST_MESSAGE
    assert sorted(seen) == [("A", Status.PASSED), ("B", Status.KILLED)]


def test_a_stored_verdict_is_reused_only_for_the_same_program(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    executor = ScriptedExecutor()
    problem = _problem("A")
    for completion in ("x = 1\n", "x = 1\n", "x = 2\n"):  # the same program twice, then a changed one
        with VerdictStore(path) as store:
            stage = JudgingStage(executor, store)
            stage.start()
            stage.submit(_jobs(problem, completion))
            stage.close()
    assert executor.seen == ["x = 1\n", "x = 2\n"]
    store = VerdictStore(path)
    (record,) = store.records.values()
    assert store.get("A", 0, Suite.TESTS, _jobs(problem, "x = 2\n")[0].program_sha) is not None
    assert store.get("A", 0, Suite.TESTS, _jobs(problem, "x = 1\n")[0].program_sha) is None
    store.close()


def _record(task: str, idx: int, status: Status, suite: Suite = Suite.TESTS) -> VerdictRecord:
    verdict = Verdict(status, error_type="NameError" if status is Status.ERROR else None,
                      failed_test=0 if status is not Status.PASSED else None)
    return VerdictRecord(task, idx, suite, verdict, "sha")


def test_results_builder_scores_splits_challenge_failures_and_round_trips() -> None:
    problems = [_problem("A", "test", ("assert 1",)), _problem("B", "test"), _problem("C", "train")]
    records = {(r.task_id, r.sample_idx, r.suite): r for r in [
        _record("A", 0, Status.PASSED), _record("A", 1, Status.FAILED), _record("B", 0, Status.ERROR),
        _record("B", 1, Status.ERROR), _record("C", 0, Status.PASSED),  # C has one of its two samples
        _record("A", 0, Status.PASSED, Suite.CHALLENGE), _record("A", 1, Status.TIMEOUT, Suite.CHALLENGE)]}
    samples = [Sample("A", "", 0), Sample("A", "", 1)]
    info = RunInfo(backend={"name": "mock"}, sandbox={"network": "active"}, wall_s=1.5)
    doc = build_results({"benchmark": "mbpp", "split": "all"}, environment(), problems, records, samples, 2, info)
    assert (doc.overall.tasks, doc.overall.samples, doc.overall.passed) == (3, 5, 2)
    assert doc.overall.verdicts[Status.ERROR] == 2 and doc.overall.error_types == {"NameError": 2}
    assert doc.overall.metrics["solved_any"].value == pytest.approx(2 / 3)
    assert doc.overall.metrics["samples_pass"].value == pytest.approx(2 / 5)
    assert set(doc.by_split) == {"test", "train"} and doc.by_split["test"].tasks == 2
    assert doc.incomplete_tasks == ("C",)
    assert [(f.task_id, f.sample_idx, f.status) for f in doc.failed_tasks] == [("A", 1, Status.FAILED),
                                                                                ("B", 0, Status.ERROR)]
    assert doc.challenge is not None and doc.challenge.block.tasks == 1 and doc.challenge.block.passed == 1
    data = doc.to_json()
    assert data["schema"] == "progsynth.results/1" and data["backend"] == {"name": "mock"}
    assert data["timing"] == {"wall_s": 1.5} and data["sandbox"] == {"network": "active"}
    again = Results.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data


def test_a_results_file_of_another_schema_is_a_one_line_error() -> None:
    from progsynth.errors import DataError

    with pytest.raises(DataError, match="schema"):
        Results.from_json({"schema": "other/1"}, "r.json")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "progsynth", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)


def test_fresh_discards_a_run_directory_that_another_configuration_started(tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = ("run", "--backend", "mock", "--limit", "2", "--out", str(out), "--quiet")
    assert _cli(*base).returncode == 0
    changed = _cli(*base, "-n", "3", "-t", "0.7")
    assert changed.returncode == 2 and "--fresh" in changed.stderr and "Traceback" not in changed.stderr
    fresh = _cli(*base, "-n", "3", "-t", "0.7", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 6
    assert json.loads((out / "results.json").read_text())["samples"] == 6
