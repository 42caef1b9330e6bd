"""The CLI end to end: real data, real executor subprocesses, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from progsynth.cli import main


def progsynth(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "progsynth", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ}, timeout=900)


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(("bench_name", "tasks", "challenge"), [("mbpp", 974, 11), ("mbpp-sanitized", 427, 0),
                                                               ("humaneval", 164, 0)])
def test_every_reference_solution_passes(tmp_path: Path, bench_name: str, tasks: int, challenge: int) -> None:
    out = tmp_path / "run"
    proc = progsynth("run", "--backend", "reference", "--benchmark", bench_name, "--split", "all"
                     if bench_name != "humaneval" else "test", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = results(out)
    assert (doc["tasks"], doc["samples"]) == (tasks, tasks)
    assert doc["failed_tasks"] == [], doc["failed_tasks"]
    assert doc["passed"] == tasks and doc["metrics"]["pass@1"]["value"] == 1.0
    if challenge:
        assert doc["challenge"]["tasks"] == challenge and doc["challenge"]["passed"] == challenge
        assert set(doc["by_split"]) == {"prompt", "test", "validation", "train"}
        assert doc["by_split"]["test"]["tasks"] == 500
    assert f"{tasks} passed" in proc.stdout and "results:" in proc.stdout


def _mbpp(task_id: int) -> dict:
    path = Path(os.environ["PROGSYNTH_DATA_DIR"]) / "mbpp" / "mbpp.jsonl"
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["task_id"] == task_id:
            return record
    raise KeyError(task_id)


def test_evaluate_scores_a_foreign_samples_file(tmp_path: Path) -> None:
    rows = []
    for tid in range(11, 16):
        rows.append({"task_id": tid, "completion": _mbpp(tid)["code"]})  # passes (CRLF and all)
        rows.append({"task_id": f"Mbpp/{tid}", "completion": "def unrelated():\n    return 1\n"})  # NameError
        rows.append({"task_id": f"mbpp/{tid}", "completion": "def broken(:\n"})  # syntax error
    samples = tmp_path / "he_samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "eval"
    proc = progsynth("evaluate", "--benchmark", "mbpp", "--split", "test", "--samples", str(samples),
                     "--out", str(out), "--quiet", "--limit", "5")
    assert proc.returncode == 0, proc.stderr
    doc = results(out)
    assert (doc["tasks"], doc["samples"], doc["passed"]) == (5, 15, 5)
    assert doc["verdicts"]["passed"] == 5 and doc["verdicts"]["error"] == 5 and doc["verdicts"]["syntax_error"] == 5
    assert doc["error_types"] == {"NameError": 5}
    assert doc["metrics"]["solved_any"]["value"] == 1.0
    assert doc["metrics"]["samples_pass"]["value"] == pytest.approx(1 / 3, abs=1e-6)
    assert doc["metrics"]["pass@1"]["value"] == pytest.approx(1 / 3, abs=1e-6)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    assert sum(v["suite"] == "tests" for v in verdicts) == 15
    with_challenge = {tid for tid in range(11, 16) if _mbpp(tid)["challenge_test_list"]}
    assert sum(v["suite"] == "challenge" for v in verdicts) == 3 * len(with_challenge)
    assert doc["challenge"]["tasks"] == len(with_challenge)


def test_run_resumes_and_extends_without_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "run"
    for limit in ("3", "6", "6"):
        proc = progsynth("run", "--backend", "reference", "--limit", limit, "--out", str(out), "--quiet")
        assert proc.returncode == 0, proc.stderr
    lines = (out / "samples.jsonl").read_text().splitlines()
    ids = [json.loads(x)["task_id"] for x in lines]
    assert ids == [f"Mbpp/{i}" for i in range(11, 17)]
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text().splitlines()]
    judged = [(v["task_id"], v["suite"]) for v in verdicts]
    assert len(judged) == len(set(judged))  # judged once each, reused on resume
    assert sum(suite == "tests" for _, suite in judged) == 6
    assert results(out)["passed"] == 6


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"task_id": "Mbpp/11", "completion": 7}\n', "field 'completion'"),
        ('{"task_id": "Mbpp/99999", "completion": "x"}\n', "field 'task_id'"),
        ('{"task_id": "Mbpp/11", "completion": "x"}\n{oops\n{"task_id": 12, "completion": ""}\n', ":2: invalid JSON"),
    ],
)
def test_bad_samples_file_is_one_line_error(tmp_path: Path, content: str, expected: str) -> None:
    samples = tmp_path / "bad.jsonl"
    samples.write_text(content)
    proc = progsynth("evaluate", "--samples", str(samples), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode == 3
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(samples) in proc.stderr and expected in proc.stderr


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    proc = progsynth("run", "--backend", "reference", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path))
    assert proc.returncode == 2 and "not a directory" in proc.stderr and "Traceback" not in proc.stderr
    proc = progsynth("run", "--backend", "reference", "--split", "bogus", "--out", str(tmp_path))
    assert proc.returncode == 2 and "split 'bogus'" in proc.stderr
    proc = progsynth("run", "--backend", "reference", "-n", "3", "-t", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "temperature" in proc.stderr


def test_prompt_command_prints_the_paper_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    main(["prompt", "--task-id", "11"])
    text = capsys.readouterr().out
    assert text.startswith("You are an expert Python programmer, and here is your task: Write a function to find")
    assert text.count("[DONE]") == 3 and text.endswith("[BEGIN]\n")
    assert "remove first and last occurrence" in text


def test_sigkilled_run_resumes_with_no_lost_or_duplicated_sample(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [sys.executable, "-m", "progsynth", "run", "--backend", "mock", "-O", "delay_s=0.05", "-n", "4",
            "-t", "0.5", "--limit", "40", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = out / "samples.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if samples.exists() and samples.read_text().count("\n") >= 40:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = samples.read_text().count("\n")
    assert 40 <= partial < 160, "the kill must land mid-run"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(x) for x in samples.read_text().splitlines()]
    keys = [(r["task_id"], r["sample_idx"]) for r in records]
    assert len(keys) == len(set(keys)) == 160
    assert {k[1] for k in keys} == {0, 1, 2, 3}
    doc = results(out)
    assert (doc["tasks"], doc["samples"], doc["incomplete_tasks"]) == (40, 160, [])
    assert doc["passed"] == 80  # the mock replays the reference for even samples only
    verdicts = {(v["task_id"], v["sample_idx"]) for v in map(json.loads, (out / "verdicts.jsonl").read_text().splitlines())}
    assert verdicts == set(keys)
