"""The scripted mock backend the runner tests rely on: deterministic, known pass pattern."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from progsynth.backends import create_backend
from progsynth.backends.mock import WRONG_BODY, WRONG_PROGRAM, MockBackend
from progsynth.benchmarks import DataConfig, get_benchmark
from progsynth.errors import BackendError, UsageError
from progsynth.types import Completion, FinishReason, GenerationRequest, Problem, SamplingParams

SHARED = Path(os.environ.get("PROGSYNTH_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
DATA = DataConfig(data_dir=SHARED, allow_download=False)


def _run(program: str, tests: tuple[str, ...], setup: str = "") -> bool:
    source = program + "\n" + setup + "\n" + "\n".join(tests) + "\n"
    proc = subprocess.run([sys.executable, "-c", source], check=False, capture_output=True, timeout=60)
    return proc.returncode == 0


def test_default_script_alternates_reference_and_wrong_programs() -> None:
    bench = get_benchmark("mbpp")
    problem = bench.load("test", DATA)[0]
    backend = create_backend("mock")
    out = backend.generate(GenerationRequest(problem, "prompt", SamplingParams(n=4, temperature=0.5), first_idx=1))
    assert [c.text for c in out] == [WRONG_PROGRAM, problem.reference, WRONG_PROGRAM, problem.reference]
    assert all(c.finish_reason is FinishReason.STOP and c.tokens for c in out)
    verdicts = [_run(bench.program(problem, c.text), problem.tests, problem.setup) for c in out[:2]]
    assert verdicts == [False, True]  # really executed: the reference passes, the wrong program fails
    assert isinstance(backend.inner, MockBackend) and backend.inner.calls[0].first_idx == 1


def test_completion_style_tasks_get_a_wrong_body() -> None:
    problem = Problem("H/0", "humaneval", "test", "", "    return 1\n", (), prompt_prefix="def f():\n")
    out = MockBackend().generate(GenerationRequest(problem, "p", SamplingParams(n=2, temperature=1.0)))
    assert [c.text for c in out] == ["    return 1\n", WRONG_BODY]


def test_scripts_mappings_callables_and_failures() -> None:
    problem = Problem("T/1", "t", "test", "", "", ())
    error = Completion("", FinishReason.ERROR, 0, error="prompt too long")
    mapped = MockBackend({"T/1": ["a", error]}, name="scripted")
    out = mapped.generate(GenerationRequest(problem, "p", SamplingParams(n=3, temperature=1.0)))
    assert [c.text for c in out] == ["a", "", "a"] and out[1] is error and mapped.name == "mock:scripted"
    other = Problem("T/2", "t", "test", "", "", ())
    (missing,) = mapped.generate(GenerationRequest(other, "p", SamplingParams()))
    assert missing.finish_reason is FinishReason.ERROR
    fn = MockBackend(lambda req, idx: f"{req.problem.task_id}#{idx}")
    assert [c.text for c in fn.generate(GenerationRequest(problem, "p", SamplingParams(n=2, temperature=1)))] == [
        "T/1#0",
        "T/1#1",
    ]
    many = list(
        fn.generate_many(
            [
                GenerationRequest(problem, "p", SamplingParams()),
                GenerationRequest(other, "p", SamplingParams()),
            ]
        )
    )
    assert [r.problem.task_id for r, _ in many] == ["T/1", "T/2"]
    with pytest.raises(BackendError, match="scripted failure on T/1"):
        MockBackend(fail_on=["T/1"]).generate(GenerationRequest(problem, "p", SamplingParams()))
    with pytest.raises(UsageError):
        create_backend("mock", colour="blue")
    with pytest.raises(UsageError):
        MockBackend(script=42)  # type: ignore[arg-type]
