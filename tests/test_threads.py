"""The thread choice: the pure rule, the /proc parsers on fake text, and a real bounded CPU hog."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from progsynth.backends.common import header_line
from progsynth.backends.gate import Gate
from progsynth.backends.threads import (
    CpuSnapshot,
    CpuUse,
    ThreadMonitor,
    choose_threads,
    measure,
    parse_pid_stat,
    parse_proc_stat,
    tree_ticks,
    usage_between,
)
from progsynth.machine import cpu_quota

STAT_T0 = """cpu  1000 0 500 8000 100 0 0 0 0 0
cpu0 500 0 250 4000 50 0 0 0 0 0
cpu1 500 0 250 4000 50 0 0 0 0 0
intr 12345
ctxt 999
"""
# 0.4 s later at 100 Hz: 40 ticks per CPU; cpu0 fully busy (a hog), cpu1 idle but 2 ticks
STAT_T1 = """cpu  1042 0 500 8038 100 0 0 0 0 0
cpu0 540 0 250 4000 50 0 0 0 0 0
cpu1 502 0 250 4038 50 0 0 0 0 0
intr 12400
"""


def test_parse_proc_stat_sums_per_cpu_lines_and_counts_iowait_as_idle() -> None:
    assert parse_proc_stat(STAT_T0) == (2 * 4800, 2 * 4050, 2)
    assert parse_proc_stat(STAT_T0, cpus={1}) == (4800, 4050, 1)


def test_parse_pid_stat_survives_odd_command_names() -> None:
    fields = " ".join(["S", "42"] + ["0"] * 9 + ["7", "3", "2", "1"] + ["0"] * 30)
    assert parse_pid_stat(f"123 (a) b (c) {fields}") == (42, 13)


def test_hog_on_one_of_two_cores_gives_one_thread() -> None:
    a = CpuSnapshot(0.0, *parse_proc_stat(STAT_T0)[:2], own=0, cpus=2)
    b = CpuSnapshot(0.4, *parse_proc_stat(STAT_T1)[:2], own=0, cpus=2)
    use = usage_between(a, b)
    assert use is not None and use.idle == pytest.approx(0.95) and use.window_s == pytest.approx(0.4)
    choice = choose_threads(2, use)
    assert choice.threads == 1 and choice.reason == "0.9 of 2 cores free over 0.4 s"


def test_the_runs_own_cpu_counts_as_free() -> None:
    # the case of issue #10: a 1-thread run on an idle machine keeps one core busy itself
    choice = choose_threads(2, CpuUse(idle=1.0, own=0.98, window_s=30.0))
    assert choice.threads == 2 and "(1.0 idle + 1.0 this run's)" in choice.reason
    # ... but 2 threads sharing the cores with a hog only ever get ~1.3 of them
    assert choose_threads(2, CpuUse(idle=0.0, own=1.33, window_s=30.0)).threads == 1


@pytest.mark.parametrize(
    ("cores", "idle", "threads"),
    [(2, 2.0, 2), (2, 1.75, 2), (2, 1.6, 1), (2, 0.0, 1), (1, 1.0, 1), (16, 9.8, 10), (4, 7.0, 4)],
)
def test_a_core_counts_when_most_of_it_is_free(cores: int, idle: float, threads: int) -> None:
    assert choose_threads(cores, CpuUse(idle=idle, own=0.0, window_s=0.4)).threads == threads


def test_fallbacks_without_proc() -> None:
    assert choose_threads(2, None, load_avg=0.2).threads == 2
    assert choose_threads(2, None, load_avg=1.2).threads == 1
    assert choose_threads(4, None).threads == 2


def test_no_tick_passed_is_no_measurement() -> None:
    a = CpuSnapshot(0.0, 100, 50, 0, 2)
    assert usage_between(a, a) is None


def test_tree_ticks_follows_descendants_only(tmp_path: Path) -> None:
    def proc(pid: int, ppid: int, ticks: int) -> None:
        (tmp_path / str(pid)).mkdir()
        rest = " ".join(["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0", "0", "0"] + ["0"] * 30)
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (p {pid}) {rest}")

    proc(10, 1, 5)      # the run
    proc(11, 10, 7)     # its executor
    proc(12, 11, 3)     # a program the executor runs
    proc(13, 1, 100)    # someone else
    (tmp_path / "self").mkdir()
    assert tree_ticks(10, tmp_path) == 15 and tree_ticks(11, tmp_path) == 10


def _snaps(*idle_cores: float) -> list[CpuSnapshot]:
    """Snapshots 31 s apart (at 100 Hz on 2 CPUs) whose windows had these idle cores, none own."""
    start = time.monotonic() - 31 * len(idle_cores)
    snaps, idle = [CpuSnapshot(start, 0, 0, 0, 2)], 0
    for i, cores in enumerate(idle_cores, 1):
        idle += round(cores * 3100)
        snaps.append(CpuSnapshot(start + 31 * i, 6200 * i, idle, 0, 2))
    return snaps


def test_monitor_proposes_a_change_once_two_windows_agree() -> None:
    snaps = iter(_snaps(2.0, 0.0, 2.0, 2.0, 2.0))
    monitor = ThreadMonitor(2, interval_s=0.0, snap=lambda: next(snaps))
    assert monitor.check(current=1) is None  # one window says 2: not yet
    assert monitor.check(current=1) is None  # the load came back: the count starts again
    assert monitor.check(current=1) is None
    choice = monitor.check(current=1)
    assert choice is not None and choice.threads == 2 and choice.reason.startswith("2.0 of 2 cores free over 31")
    assert monitor.check(current=2) is None  # agrees with the current count


def test_monitor_waits_for_its_interval_and_counts_own_use() -> None:
    now = time.monotonic()
    snaps = iter([CpuSnapshot(now - 31, 0, 0, 0, 2), CpuSnapshot(now, 6200, 3100, 3000, 2)])
    monitor = ThreadMonitor(2, interval_s=30.0, confirm=1, snap=lambda: next(snaps))
    choice = monitor.check(current=1)  # 1.0 idle + 0.97 own: this run could use both cores
    assert choice is not None and choice.threads == 2
    assert monitor.check(current=2) is None  # the next window has not completed


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux /proc")
def test_measured_idle_drops_under_a_real_cpu_hog() -> None:
    """A bounded busy loop (stopped at the end, and by ``timeout`` in any case) takes about one core:
    idle drops by about a core, and since the hog is this process's child it counts as ours."""
    before = measure(0.5)
    assert before is not None
    hog = subprocess.Popen(["timeout", "60", sys.executable, "-c", "while 1: pass"])
    try:
        time.sleep(0.3)
        during = measure(0.5)
    finally:
        hog.terminate()  # SIGTERM: timeout passes it on to the loop (a SIGKILL would orphan the loop)
        hog.wait(10)
    assert during is not None
    assert during.own > 0.05  # the hog's share of the CPU, found in our process tree
    if before.idle < 0.9:
        pytest.skip(f"machine already saturated by others (idle {before.idle:.2f} cores): no idle left to drop")
    assert during.idle < before.idle - 0.5 and during.own > 0.6  # about a core, when one was idle


def test_gate_exclusive_waits_for_shared_and_blocks_new_ones() -> None:
    gate, log = Gate(2), []
    first_in, release = threading.Event(), threading.Event()

    def shared(name: str) -> None:
        with gate.hold():
            log.append(name)
            first_in.set()
            release.wait(5)

    def exclusive() -> None:
        with gate.hold(exclusive=True):
            log.append("exclusive")

    t1 = threading.Thread(target=shared, args=("a",))
    t1.start()
    first_in.wait(5)
    t2 = threading.Thread(target=exclusive)
    t2.start()
    time.sleep(0.1)
    t3 = threading.Thread(target=shared, args=("b",))
    t3.start()
    time.sleep(0.1)
    assert log == ["a"]  # the exclusive holder waits for "a"; "b" waits behind the exclusive one
    release.set()
    for t in (t1, t2, t3):
        t.join(5)
    assert log == ["a", "exclusive", "b"]


def test_header_line_says_threads_and_why() -> None:
    desc = {"name": "llamacpp:qwen", "threads": 2, "thread_reason": "1.9 of 2 cores free over 0.4 s",
            "streams": 2, "concurrency": 2}
    assert header_line(desc) == "llamacpp:qwen: 2 threads (1.9 of 2 cores free over 0.4 s), 2 greedy tasks at once"
    assert header_line({**desc, "concurrency": 1}).endswith("over 0.4 s)")
    assert header_line({"name": "openai:gpt-4o", "backend": "openai", "concurrency": 8}) == "openai:gpt-4o"


def test_cgroup_cpu_quota(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None  # no cgroup file: unknown
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path) == 2
