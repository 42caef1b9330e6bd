"""How long ``progsynth report`` takes on a paper-sized run, and how large the HTML gets.

Builds a 500-task x 80-sample MBPP run (tasks 11-510, 40,000 samples) by writing the run files
directly, as a finished run leaves them: ``samples.jsonl`` (+ header), ``verdicts.jsonl`` and
``results.json`` (from ``progsynth.store.results.build_results``). Each task's pass rate is drawn at
random; passing samples are the reference solution, failing ones a mix of syntax errors, runtime
errors, wrong answers, timeouts, kills, truncated generations and hard-coded asserts; every program
gets a unique comment so nothing is deduplicated for free. Then the report is rendered (the same
code path as ``progsynth report``) and its time (wall and CPU: on a shared machine the wall time
includes waiting for a core) and size are printed against the targets (10 s, 20 MB).

    python perf/report.py [--tasks 500] [--samples 80] [--out /tmp/progsynth-perf-report] [--seed 0]

The benchmark data comes from ``--data-dir``, else ``PROGSYNTH_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from progsynth.benchmarks import get_benchmark
from progsynth.benchmarks.sources import data_config_from_env
from progsynth.report.hardcode import parse_assert
from progsynth.report.html import write_report
from progsynth.report.load import load_run
from progsynth.store.results import RunInfo, build_results
from progsynth.store.samples import header_path
from progsynth.store.verdicts import Suite, VerdictRecord
from progsynth.types import FinishReason, Problem, Sample
from progsynth.verdicts import Status, TestResult, Verdict

TARGET_S = 10.0
TARGET_MB = 20.0
FAILURES = [
    (Status.SYNTAX_ERROR, "SyntaxError", "def f(:\n    return\n"),
    (Status.ERROR, "NameError", "def f(x):\n    return undefined_name + x\n"),
    (Status.ERROR, "TypeError", "def f(x):\n    return len(x) + 'a'\n"),
    (Status.FAILED, "AssertionError", None),
    (Status.TIMEOUT, None, "def f(x):\n    while True:\n        pass\n"),
    (Status.KILLED, None, "def f(x):\n    return [0] * 10 ** 12\n"),
]


def _failure(p: Problem, idx: int, rng: random.Random) -> tuple[str, Verdict, FinishReason]:
    """A failing sample of a random kind, with the verdict its program would get."""
    status, error, code = rng.choice(FAILURES)
    if rng.random() < 0.05:
        return p.reference[: len(p.reference) // 2], Verdict(Status.SYNTAX_ERROR, error_type="SyntaxError",
                                                             message="unexpected EOF"), FinishReason.LENGTH
    case = parse_assert(p.tests[0]) if rng.random() < 0.03 else None
    if case is not None and case.has_expected:  # hard-coded: returns the first assert's expected value
        code = f"def f(*args):\n    return {case.expected!r}\n"
        return code, Verdict(Status.FAILED, (TestResult(0, Status.PASSED), TestResult(1, Status.FAILED)),
                             "AssertionError", failed_test=1), FinishReason.STOP
    if code is None:  # a wrong answer: the reference with its return value changed
        code = p.reference.replace("return ", "return 1 + ", 1) if "return " in p.reference else p.reference
    failed = 0 if status in (Status.FAILED, Status.ERROR) else None
    tests = (TestResult(0, status),) if failed is not None else ()
    verdict = Verdict(status, tests, error_type=error, message=f"{error or status.value} in sample {idx}",
                      failed_test=failed)
    return code, verdict, FinishReason.STOP


def write_run(out: Path, problems: list[Problem], n: int, seed: int) -> None:
    """The files a finished run leaves, written directly (executing 40,000 programs is not what
    this measures); each task's pass rate is drawn from a beta distribution, like a model's."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    samples, records = [], {}
    for p in problems:
        rate = rng.betavariate(0.6, 0.8)
        for i in range(n):
            if rng.random() < rate:
                code, verdict, finish = p.reference, Verdict(Status.PASSED, tuple(
                    TestResult(j, Status.PASSED) for j in range(len(p.tests)))), FinishReason.STOP
            else:
                code, verdict, finish = _failure(p, i, rng)
            code = f"{code}\n# sample {i} of {p.task_id}\n"
            samples.append(Sample(p.task_id, code, i, "perf-model", "0" * 16, None, finish, len(code) // 4))
            records[(p.task_id, i, Suite.TESTS)] = VerdictRecord(p.task_id, i, Suite.TESTS, verdict, "")
    with open(out / "samples.jsonl", "w", encoding="utf-8") as fh:
        for s in samples:
            fh.write(json.dumps({"task_id": s.task_id, "completion": s.completion, "sample_idx": s.sample_idx,
                                 "model": s.model, "prompt_hash": s.prompt_hash,
                                 "finish_reason": s.finish_reason.value if s.finish_reason else None,
                                 "tokens": s.tokens}) + "\n")
    config = {"benchmark": "mbpp", "split": "test", "backend": "mock", "model": "perf-model",
              "sampling": {"n": n, "temperature": 0.8, "seed": seed},
              "prompt": {"shots": 3, "shot_ids": None, "asserts_shown": 3, "style": "paper"}}
    header_path(out / "samples.jsonl").write_text(json.dumps(config), encoding="utf-8")
    with open(out / "verdicts.jsonl", "w", encoding="utf-8") as fh:
        for rec in records.values():
            fh.write(json.dumps(rec.to_json()) + "\n")
    results = build_results(config, {"progsynth": "perf"}, problems, records, samples, n, RunInfo(wall_s=0.0))
    (out / "results.json").write_text(json.dumps(results.to_json()), encoding="utf-8")


def main() -> None:
    """Build the run, time the report, print the figures against the targets."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--samples", type=int, default=80)
    ap.add_argument("--out", type=Path, default=Path("/tmp/progsynth-perf-report"))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = data_config_from_env(args.data_dir)
    problems = get_benchmark("mbpp").load("test", data)[: args.tasks]
    run_dir = args.out / "run"
    start = time.perf_counter()
    write_run(run_dir, problems, args.samples, args.seed)
    print(f"built {len(problems)} tasks x {args.samples} samples in {time.perf_counter() - start:.1f} s: {run_dir}")
    start, cpu = time.perf_counter(), time.process_time()
    run = load_run(run_dir, data)
    loaded = time.perf_counter() - start
    files = write_report([run], args.out / "report.html")
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = files.html.stat().st_size / 1e6
    print(f"report: {took:.2f} s wall, {cpu:.2f} s CPU (loading {loaded:.2f} s; target < {TARGET_S:.0f} s) "
          f"{'OK' if took < TARGET_S else 'SLOW'}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"size: {size:.2f} MB (target < {TARGET_MB:.0f} MB) {'OK' if size < TARGET_MB else 'LARGE'}: {files.html}")


if __name__ == "__main__":
    main()
