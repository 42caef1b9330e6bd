"""Scores that never mislead: partial samples files, torn input lines, and data the programs must
not read. Real CLI subprocesses and the real executor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from progsynth.backends.mock import MockBackend
from progsynth.benchmarks.base import DataConfig
from progsynth.execution import ExecRequest, SandboxConfig, create_executor
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import run
from progsynth.types import GenerationRequest

SHARED = Path(os.environ["PROGSYNTH_DATA_DIR"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "progsynth", *args], capture_output=True, text=True,
                          env={**os.environ}, timeout=300)


def _references() -> dict[int, str]:
    rows = (json.loads(line) for line in (SHARED / "mbpp" / "mbpp.jsonl").read_text().splitlines())
    return {r["task_id"]: r["code"] for r in rows if 11 <= r["task_id"] <= 30}


def _partial_file(path: Path, torn: bool = False) -> None:
    """Tasks 11-15 of the 20 selected, two samples each: one right, one wrong."""
    refs = _references()
    lines = []
    for tid in range(11, 16):
        lines.append(json.dumps({"task_id": tid, "completion": refs[tid], "sample_idx": 0}))
        lines.append(json.dumps({"task_id": tid, "completion": "def nothing():\n    pass\n", "sample_idx": 1}))
    text = "\n".join(lines) + "\n"
    if torn:
        text += json.dumps({"task_id": 16, "completion": refs[16]})[:25]  # a writer killed mid-line
    path.write_text(text)


def test_tasks_without_samples_are_left_out_and_said_so(tmp_path: Path) -> None:
    samples = tmp_path / "partial.jsonl"
    _partial_file(samples)
    proc = _cli("evaluate", "--samples", str(samples), "--limit", "20", "--out", str(tmp_path / "a"), "-q")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "a" / "results.json").read_text())
    assert (doc["tasks"], doc["samples"], doc["passed"]) == (5, 10, 5)
    assert doc["coverage"]["split_tasks"] == 20 and doc["coverage"]["absent"] == 15
    assert doc["metrics"]["pass@1"]["value"] == 0.5 == doc["metrics"]["samples_pass"]["value"]
    assert len(doc["per_task"]) == 5
    assert "15 of the split's 20 tasks have no samples" in proc.stdout and "--missing-as-failed" in proc.stdout

    proc = _cli("evaluate", "--samples", str(samples), "--limit", "20", "--out", str(tmp_path / "b"), "-q",
                "--missing-as-failed")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    assert (doc["tasks"], doc["samples"], doc["passed"]) == (20, 40, 5)
    assert doc["metrics"]["pass@1"]["value"] == 0.125 == doc["metrics"]["samples_pass"]["value"]
    assert doc["metrics"]["solved_any"]["value"] == 0.25
    assert "counted as failures" in proc.stdout


def test_a_torn_last_line_is_reported_not_dropped_silently(tmp_path: Path) -> None:
    samples = tmp_path / "torn.jsonl"
    _partial_file(samples, torn=True)
    proc = _cli("evaluate", "--samples", str(samples), "--limit", "20", "--out", str(tmp_path / "t"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert f"{samples}:11: the last line is cut short" in proc.stderr and "Traceback" not in proc.stderr
    doc = json.loads((tmp_path / "t" / "results.json").read_text())
    assert doc["input_warnings"] and ":11:" in doc["input_warnings"][0]
    assert doc["tasks"] == 5  # task 16's torn sample was not scored


@pytest.fixture
def readable_dir() -> Iterator[Path]:
    """A world-readable directory inside the interpreter's prefix, which the sandbox lets programs read
    (they import from there): only hiding keeps them out of what is put here."""
    path = Path(sys.prefix) / f"progsynth-hiding-test-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_the_readable_dir_is_readable_without_hiding(readable_dir: Path) -> None:
    """The control: without hiding, a program really can read the files the next test hides."""
    (readable_dir / "answers.txt").write_text("42\n")
    os.chmod(readable_dir / "answers.txt", 0o644)
    program = f"def f():\n    return open({str(readable_dir / 'answers.txt')!r}).read()\n"
    with create_executor(workers=1, sandbox=SandboxConfig(hidden=())) as executor:
        ((_, verdict),) = list(executor.run([ExecRequest("k", program, ("assert f() == '42\\n'",))]))
    assert verdict.passed, verdict


def test_data_cache_and_run_files_are_hidden_from_programs(readable_dir: Path) -> None:
    """The data dir is given only through the configuration (not the environment), the cache through
    its own directory: the run tells the sandbox what to hide."""
    tmp_path = readable_dir
    data = tmp_path / "mydata"
    shutil.copytree(SHARED / "mbpp", data / "mbpp")
    cache = tmp_path / "mycache"
    (cache / "secret").mkdir(parents=True)
    (cache / "secret" / "answers.txt").write_text("42\n")
    out = tmp_path / "run"
    targets = {"Mbpp/11": data / "mbpp" / "mbpp.jsonl", "Mbpp/12": cache / "secret" / "answers.txt",
               "Mbpp/13": out / "samples.jsonl"}

    def leak(request: GenerationRequest, idx: int) -> str:
        problem = request.problem
        path = targets.get(problem.task_id)
        probe = f"_LEAK = open({str(path)!r}).read()\n" if path else ""
        return problem.reference + "\n" + probe

    cfg = RunConfig(out_dir=out, data=DataConfig(data_dir=data, cache_dir=cache, allow_download=False),
                    task_ids=("11", "12", "13", "14"), challenge=False)
    out.mkdir()
    for path in (*tmp_path.rglob("*"), tmp_path):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    doc = run(cfg, backend=MockBackend(leak), show_progress=False).results
    verdicts = {json.loads(line)["task_id"]: json.loads(line) for line in (out / "verdicts.jsonl").open()}
    assert verdicts["Mbpp/14"]["status"] == "passed"  # the same program without the probe passes
    for task in targets:
        assert verdicts[task]["status"] == "error", verdicts[task]
        assert verdicts[task]["error_type"] in ("FileNotFoundError", "PermissionError", "IsADirectoryError")
    assert doc["passed"] == 1
    assert all(p.exists() for p in targets.values())  # hidden from programs, untouched on the host
