"""Adaptive timeouts through the run: on by default, recorded, and off with --fixed-timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from progsynth.backends.mock import MockBackend
from progsynth.benchmarks.base import DataConfig
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.execution.api import Limits
from progsynth.run.config import RunConfig
from progsynth.run.pipeline import run
from progsynth.types import GenerationRequest

LOOP = "def _spin():\n    while True:\n        pass\n_spin()\n"


def _cfg(tmp_path: Path, name: str, **kw: object) -> RunConfig:
    data = DataConfig(data_dir=data_config_from_env().data_dir, cache_dir=tmp_path / "cache")
    return RunConfig(out_dir=tmp_path / name, data=data, task_ids=("11", "12"), challenge=False,
                     limits=Limits(timeout_s=4.0), **kw)  # type: ignore[arg-type]


def _loop_on_11(request: GenerationRequest, idx: int) -> str:
    return LOOP if request.problem.task_id == "Mbpp/11" else request.problem.reference


def test_a_looping_sample_stops_at_its_task_limit_not_the_base_limit(tmp_path: Path) -> None:
    doc = run(_cfg(tmp_path, "adaptive"), backend=MockBackend(_loop_on_11), show_progress=False).results
    t = doc["timeouts"]
    assert t["enabled"] and t["references"] == 2 and t["measured"] == 2 and t["cached"] == 0
    assert t["limit_s"]["max"] < 4.0
    verdicts = {json.loads(x)["task_id"]: json.loads(x) for x in (tmp_path / "adaptive" / "verdicts.jsonl").open()}
    assert verdicts["Mbpp/11"]["status"] == "timeout" and verdicts["Mbpp/12"]["status"] == "passed"
    assert verdicts["Mbpp/11"]["cpu_s"] < 3.0  # stopped near its adaptive limit, far below the 4 s base

    again = run(_cfg(tmp_path, "again"), backend=MockBackend(_loop_on_11), show_progress=False).results
    assert again["timeouts"]["cached"] == 2 and again["timeouts"]["measured"] == 0  # measured once per machine


def test_fixed_timeouts_keep_the_base_limit_and_say_so(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "fixed", adaptive_timeouts=False)
    doc = run(cfg, backend=MockBackend(_loop_on_11), show_progress=False).results
    assert doc["timeouts"] == {"enabled": False}
    verdicts = {json.loads(x)["task_id"]: json.loads(x) for x in (tmp_path / "fixed" / "verdicts.jsonl").open()}
    assert verdicts["Mbpp/11"]["status"] == "timeout" and verdicts["Mbpp/11"]["cpu_s"] >= 3.5


def test_the_summary_says_how_limits_were_set(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "progsynth", "run", "--backend", "reference", "--limit", "2", "-q"]
    env = {**os.environ, "PROGSYNTH_CACHE_DIR": str(tmp_path / "cache")}
    adaptive = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env,
                              timeout=300)
    assert adaptive.returncode == 0, adaptive.stderr
    assert "timeouts: adaptive" in adaptive.stdout and "--fixed-timeouts" in adaptive.stdout
    fixed = subprocess.run([*base, "--out", str(tmp_path / "f"), "--fixed-timeouts"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert fixed.returncode == 0 and "timeouts: fixed" in fixed.stdout
