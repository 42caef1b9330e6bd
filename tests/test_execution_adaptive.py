"""Adaptive timeouts: the policy's arithmetic, calibration and its per-machine cache (with a fake
executor), what results record, and on a real pool: loops stopped at the floor, and every MBPP
reference still passing under its adapted limit while two CPU hogs load the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from progsynth.errors import UsageError
from progsynth.execution import ExecRequest, Executor, Limits, adaptive, create_executor
from progsynth.execution.adaptive import AdaptiveTimeouts, Calibration, calibrate
from progsynth.verdicts import Status, Verdict

BASE = Limits(timeout_s=10.0)
#: a busy loop that ends by itself after two minutes even if nobody kills it
HOG = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


class FakeExecutor(Executor):
    """Answers from a table of CPU times (program text -> seconds; missing: the reference fails)."""

    def __init__(self, cpu: dict[str, float]) -> None:
        self.cpu = cpu
        self.seen: list[str] = []

    def run(self, requests: Iterable[ExecRequest]) -> Iterator[tuple[str, Verdict]]:
        for r in requests:
            self.seen.append(r.key)
            t = self.cpu.get(r.program)
            yield r.key, Verdict(Status.PASSED, cpu_s=t) if t is not None else Verdict(Status.FAILED)


def refs(**programs: str) -> dict[str, ExecRequest]:
    return {task: ExecRequest(f"ref-{task}", program, ("assert True",)) for task, program in programs.items()}


def test_policy_tightens_between_floor_and_base_and_keeps_the_wall_backstop() -> None:
    policy = AdaptiveTimeouts(factor=4.0, floor_s=0.5)
    assert policy.limits(BASE, 0.01).timeout_s == 0.5
    assert policy.limits(BASE, 1.0).timeout_s == 4.0
    assert policy.limits(BASE, 5.0) is BASE and policy.limits(BASE, None) is BASE
    assert policy.limits(BASE, 0.01).wall_limit == BASE.wall_limit == 30.0
    assert policy.limits(BASE, 0.01).memory_mb == BASE.memory_mb
    for factor, floor in ((0.5, 1.0), (2.0, 0.0), (float("nan"), 1.0), (2.0, float("nan"))):
        with pytest.raises(UsageError):
            AdaptiveTimeouts(factor=factor, floor_s=floor)
    with pytest.raises(UsageError):
        AdaptiveTimeouts(import_floor_s=-1.0)


def test_programs_importing_beyond_the_standard_library_get_the_import_floor() -> None:
    """A large package's import is a fixed cost no reference shows (pandas: 0.3 s of CPU)."""
    policy = AdaptiveTimeouts(factor=10.0, floor_s=0.25, import_floor_s=1.0)
    assert policy.limits(BASE, 0.002, "import numpy as np\n").timeout_s == 1.0
    assert policy.limits(BASE, 0.002, "import os, re\nfrom collections import Counter\n").timeout_s == 0.25
    assert policy.limits(BASE, 0.5, "import pandas\n").timeout_s == 5.0  # the factor still rules above it
    assert policy.limits(Limits(timeout_s=0.5), 0.002, "import pandas\n").timeout_s == 0.5  # never above base
    for program, heavy in (("def f():\n    import sympy\n", True), ("import os, numpy\n", True),
                           ("from pandas import DataFrame\n", True), ("import os.path\n", False),
                           ("x = 1  # import numpy\n", False), ("from . import x\n", False), ("", False)):
        assert adaptive.imports_beyond_stdlib(program) is heavy, program
    cal = Calibration(policy, {"t1": 0.002})
    assert cal.limits_for("t1", BASE, "import numpy\n").timeout_s == 1.0
    assert [r.limits.timeout_s for r in cal.apply([ExecRequest("s", "import numpy\n", ())], {"s": "t1"})] == [1.0]


def test_calibration_measures_once_and_reuses_the_cache(tmp_path: Path) -> None:
    fake = FakeExecutor({"a = 1": 0.002, "b = 2": 0.3})
    first = calibrate(fake, refs(t1="a = 1", t2="b = 2", t3="broken"), AdaptiveTimeouts(10.0, 0.5), tmp_path)
    assert sorted(fake.seen) == ["t1", "t2", "t3"]
    assert (first.measured, first.cached, first.failed) == (3, 0, ("t3",))
    assert first.limits_for("t1", BASE).timeout_s == 0.5
    assert first.limits_for("t2", BASE).timeout_s == pytest.approx(3.0)
    assert first.limits_for("t3", BASE) is BASE and first.limits_for("unknown", BASE) is BASE

    fake.seen.clear()
    again = calibrate(fake, refs(t1="a = 1", t2="b = 2", t3="broken"), AdaptiveTimeouts(10.0, 0.5), tmp_path)
    assert fake.seen == ["t3"]  # failures are retried, passes come from the cache
    assert (again.measured, again.cached) == (1, 2) and again.reference_cpu == first.reference_cpu

    fake.seen.clear()
    changed = calibrate(fake, refs(t1="a = 1", t2="b = 2  # new dataset version"), cache=tmp_path)
    assert fake.seen == ["t2"] and changed.failed == ("t2",)


def test_cache_is_per_machine_and_survives_a_corrupt_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExecutor({"a = 1": 0.002})
    calibrate(fake, refs(t1="a = 1"), cache=tmp_path)
    monkeypatch.setattr(adaptive, "machine_fingerprint", lambda: "other-machine")
    fake.seen.clear()
    calibrate(fake, refs(t1="a = 1"), cache=tmp_path)
    assert fake.seen == ["t1"] and len(list(tmp_path.glob("*.json"))) == 2
    (tmp_path / "other-machine.json").write_text("{not json")
    fake.seen.clear()
    assert calibrate(fake, refs(t1="a = 1"), cache=tmp_path).measured == 1
    assert json.loads((tmp_path / "other-machine.json").read_text())["format"] == 1


def test_results_record_the_policy_and_a_limit_summary() -> None:
    cal = calibrate(FakeExecutor({"a": 0.01, "b": 0.1, "c": 2.0}), refs(t1="a", t2="b", t3="c", t4="d"),
                    AdaptiveTimeouts(10.0, 0.5))
    record = cal.to_json(Limits(timeout_s=5.0))
    assert record["enabled"] is True and (record["factor"], record["floor_s"]) == (10.0, 0.5)
    assert record["import_floor_s"] == AdaptiveTimeouts().import_floor_s
    assert (record["references"], record["measured"], record["cached"], record["failed"]) == (4, 4, 0, ["t4"])
    assert record["limit_s"] == {"min": 0.5, "median": 1.0, "max": 5.0}
    assert record["seconds"] >= 0 and record["machine"]
    json.dumps(record)
    off = Calibration.off()
    assert off.to_json() == {"enabled": False} and off.limits_for("t1", BASE) is BASE


def test_apply_adapts_each_request_by_its_task() -> None:
    cal = Calibration(AdaptiveTimeouts(10.0, 0.5), {"t1": 0.001})
    reqs = [ExecRequest("s1", "x", ()), ExecRequest("s2", "x", ())]
    adapted = cal.apply(reqs, {"s1": "t1", "s2": "t9"})
    assert [r.limits.timeout_s for r in adapted] == [0.5, Limits().timeout_s]
    assert adapted[0].limits.wall_limit == Limits().wall_limit


def test_real_pool_stops_a_loop_at_the_floor(tmp_path: Path) -> None:
    reference = "def work():\n    return sum(range(200_000))\n"
    with create_executor(workers=1) as ex:
        cal = calibrate(ex, {"t1": ExecRequest("r", reference, ("assert work() > 0",))}, cache=tmp_path)
        sample = ExecRequest("s1", "def work():\n    while True:\n        pass\n", ("assert work() > 0",))
        [adapted] = cal.apply([sample], {"s1": "t1"})
        verdict = dict(ex.run([adapted]))["s1"]
    assert cal.failed == () and 0 < cal.reference_cpu["t1"] < AdaptiveTimeouts().floor_s
    assert adapted.limits.timeout_s == AdaptiveTimeouts().floor_s
    assert verdict.status is Status.TIMEOUT and verdict.cpu_s < 1.5  # 0.25 s, plus a late worker's slack


def _mbpp_references() -> dict[str, ExecRequest]:
    from progsynth.benchmarks import get_benchmark
    from progsynth.benchmarks.sources import data_config_from_env

    try:
        problems = get_benchmark("mbpp").load("all", data_config_from_env())
    except Exception as exc:  # noqa: BLE001 - no local data: nothing to measure against
        pytest.skip(f"MBPP data unavailable: {exc}")
    return {p.task_id: ExecRequest(p.task_id, p.reference, p.tests, p.setup) for p in problems}


def test_every_mbpp_reference_passes_its_adapted_limit_beside_cpu_hogs(tmp_path: Path) -> None:
    """Calibrated on a quiet pool, then run while two busy loops (self-bounded, killed after) load both
    cores: a correct program must never time out because the machine is busy."""
    references = _mbpp_references()
    with create_executor(workers=2, cache_size=0) as ex:
        cal = calibrate(ex, references, cache=tmp_path)
        hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
        try:
            adapted = [replace_limits(r, cal) for r in references.values()]
            verdicts = dict(ex.run(adapted))
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    timeouts = [k for k, v in verdicts.items() if v.status is Status.TIMEOUT]
    assert len(verdicts) == len(references) > 900
    assert timeouts == [], [(k, verdicts[k].cpu_s, cal.reference_cpu.get(k)) for k in timeouts]
    assert {k for k, v in verdicts.items() if not v.passed} == set(cal.failed)


def replace_limits(request: ExecRequest, cal: Calibration) -> ExecRequest:
    return cal.apply([request], {request.key: request.key})[0]
