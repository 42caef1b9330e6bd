"""Execution throughput on one machine, on a 1-node and on a 2-node local Ray cluster, and the
overhead per program that Ray adds; the figures docs/scale.md plans a cluster from.

The workload is ``exec_workload``'s without the infinite loops (MBPP test-split references and
three AST mutants of each: the pass/fail mix a real evaluation has). The same programs go through

* the local sandbox pool (``create_executor``, ``--workers`` workers),
* ``RayExecutor`` on a cluster of one node (a head with ``--workers`` CPUs),
* ``RayExecutor`` after a second node joins (each node its own pool of ``--workers`` workers).

Each executor first runs a warm-up slice that is not timed. Printed: programs/s and seconds per
program for each, the ratios measured in this run, Ray's overhead per program two ways (wall-clock
difference with the local pool, and the driver's round trip per batch minus the pool's own time),
and start-up times. Then generation across endpoints: the OpenAI-compatible backend against one and
against two scripted servers on 127.0.0.1 (``tests/servers``, each answering after ``--delay-ms``
with 4 requests at once), giving the requests/s ratio and the client's cost per request beyond the
server's time. Both local nodes share this machine's cores, so the 2-node figure measures
the machinery (scheduling, resubmission paths, two pools), not a second machine's CPUs.

The cluster runs in a network namespace of its own with only loopback up, where Ray binds
127.0.0.1: the script re-executes itself under ``unshare --net`` (as root, else with
``--map-root-user``) and refuses to start Ray anywhere else. Every Ray process it started is
stopped in ``finally`` (``ray stop --force``).

    python perf/scale.py [--tasks 100] [--workers 2] [--requests 400] [--delay-ms 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exec_workload import Kind, build_workload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import netns  # noqa: E402

from progsynth.execution import ExecRequest, Executor, Limits, SandboxConfig, create_executor

BIN = Path(sys.executable).parent
PORT = 6399
INSIDE = "PROGSYNTH_SCALE_INSIDE_NETNS"


def requests(tasks: int) -> list[ExecRequest]:
    programs = [p for p in build_workload(None, tasks) if p.kind is not Kind.LOOP]
    return [ExecRequest(p.key, p.code, p.tests, p.setup, Limits(timeout_s=3.0)) for p in programs]


def timed(executor: Executor, work: list[ExecRequest], warm: int) -> tuple[float, float, dict[str, str]]:
    """Wall seconds for ``work`` after an untimed warm-up on its first ``warm`` programs (renamed,
    so nothing is answered from a cache), this process's CPU seconds meanwhile (the driver's cost:
    locally it includes the judges, which run in the caller), and the verdicts (to compare)."""
    from dataclasses import replace

    list(executor.run(replace(r, key="warm-" + r.key, program=r.program + "\n#warm") for r in work[:warm]))
    started, cpu = time.perf_counter(), time.process_time()
    verdicts = {k: v.status.value for k, v in executor.run(work)}
    return time.perf_counter() - started, time.process_time() - cpu, verdicts


def ray(*args: str) -> None:
    subprocess.run([str(BIN / "ray"), *args], check=True, capture_output=True, timeout=180,
                   env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})



def measure(tasks: int, workers: int, temp: str) -> dict[str, float | int | bool]:
    from progsynth.execution.ray import create_ray_executor

    work = requests(tasks)
    warm = min(len(work), 4 * workers)
    out: dict[str, float | int | bool] = {"programs": len(work), "workers": workers}
    with create_executor(workers=workers, sandbox=SandboxConfig()) as local:
        out["local_s"], out["local_driver_cpu_s"], base = timed(local, work, warm)
    for nodes in (1, 2):
        if nodes == 1:
            ray("start", "--head", f"--port={PORT}", f"--num-cpus={workers}", "--include-dashboard=false",
                "--disable-usage-stats", f"--temp-dir={temp}")
        else:
            ray("start", f"--address=127.0.0.1:{PORT}", f"--num-cpus={workers}", "--disable-usage-stats",
                f"--temp-dir={temp}")
        started = time.perf_counter()
        with create_ray_executor(f"127.0.0.1:{PORT}", workers=workers) as executor:
            out[f"ray{nodes}_start_s"] = time.perf_counter() - started
            out[f"ray{nodes}_s"], out[f"ray{nodes}_driver_cpu_s"], verdicts = timed(executor, work, warm)
            stats = executor.stats  # type: ignore[attr-defined]
            out[f"ray{nodes}_nodes"] = len(executor.nodes)  # type: ignore[attr-defined]
            out[f"ray{nodes}_rpc_overhead_ms"] = 1000 * (stats.round_trip_s - stats.busy_s) / max(stats.programs, 1)
            out[f"ray{nodes}_same_verdicts"] = verdicts == base
    return out


def generation(requests_count: int, delay_ms: float) -> dict[str, float]:
    """Greedy requests through 1 and 2 endpoints of ``delay_ms`` each, 4 in flight per endpoint."""
    from servers.openai_server import ScriptedOpenAIServer

    from progsynth.backends import create_backend
    from progsynth.types import GenerationRequest, Problem, SamplingParams

    def work() -> list[GenerationRequest]:
        return [GenerationRequest(Problem(f"Mbpp/{i}", "mbpp", "test", "", "", ()), "p", SamplingParams(max_tokens=64))
                for i in range(requests_count)]

    out: dict[str, float] = {"gen_requests": requests_count, "gen_delay_ms": delay_ms}
    with ScriptedOpenAIServer(delay_s=delay_ms / 1000) as a, ScriptedOpenAIServer(delay_s=delay_ms / 1000) as b:
        for k, urls in ((1, a.base_url), (2, f"{a.base_url},{b.base_url}")):
            backend = create_backend("openai", base_url=urls, endpoint_concurrency="4", concurrency=4 * k)
            started = time.perf_counter()
            done = sum(1 for _ in backend.generate_many(work()))
            out[f"gen{k}_s"] = time.perf_counter() - started
            assert done == requests_count
            backend.close()
    return out


def report(m: dict[str, float | int | bool]) -> str:
    n = int(m["programs"])
    rows = [("local pool", float(m["local_s"])), ("ray, 1 node", float(m["ray1_s"])), ("ray, 2 nodes", float(m["ray2_s"]))]
    lines = [f"{n} MBPP programs (references + mutants), {m['workers']} workers per pool, {os.cpu_count()} CPUs here",
             f"{'executor':<14} {'wall s':>8} {'programs/s':>11} {'ms/program':>11}"]
    lines += [f"{name:<14} {s:>8.2f} {n / s:>11.1f} {1000 * s / n:>11.2f}" for name, s in rows]
    local, one, two = (s for _, s in rows)
    lines += [
        f"ratio ray 1 node / local (time):   {one / local:.2f}",
        f"ratio ray 2 nodes / 1 node (time): {two / one:.2f}  (speed-up {one / two:.2f}x; both nodes share these cores)",
        f"Ray overhead per program: {1000 * (one - local) / n:+.2f} ms wall vs local; "
        f"{m['ray1_rpc_overhead_ms']:.2f} ms (1 node) / {m['ray2_rpc_overhead_ms']:.2f} ms (2 nodes) round trip minus pool time",
        "driver CPU per program: " + ", ".join(f"{name} {1000 * float(m[key]) / n:.2f} ms" for name, key in
                                               (("local (judges included)", "local_driver_cpu_s"),
                                                ("ray 1 node", "ray1_driver_cpu_s"), ("ray 2 nodes", "ray2_driver_cpu_s"))),
        f"start-up: {m['ray1_start_s']:.1f} s (1 node), {m['ray2_start_s']:.1f} s (2 nodes: {m['ray2_nodes']} pools)",
        f"verdicts identical to the local pool: 1 node {m['ray1_same_verdicts']}, 2 nodes {m['ray2_same_verdicts']}",
    ]
    if "gen1_s" in m:
        g = int(m["gen_requests"])
        one_s, two_s, delay = float(m["gen1_s"]), float(m["gen2_s"]), float(m["gen_delay_ms"])
        lines += [
            f"generation, {g} greedy requests, servers answering in {delay:.0f} ms, 4 in flight each:",
            f"  1 endpoint {g / one_s:.1f} req/s, 2 endpoints {g / two_s:.1f} req/s (speed-up {one_s / two_s:.2f}x)",
            f"  client cost per request beyond the server's time: {1000 * one_s * 4 / g - delay:.2f} ms (1 endpoint), "
            f"{1000 * two_s * 8 / g - delay:.2f} ms (2 endpoints)",
        ]
    return "\n".join(lines)


def inside(args: argparse.Namespace, outer_netns: str) -> None:
    netns.loopback_up()
    netns.check_isolated(outer_netns)
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    try:
        m = measure(args.tasks, args.workers, temp)
    finally:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], capture_output=True, timeout=180)
        shutil.rmtree(temp, ignore_errors=True)
    m.update(generation(args.requests, args.delay_ms))
    print(report(m))
    print("json: " + json.dumps(m))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100, help="MBPP test tasks (4 programs each)")
    parser.add_argument("--workers", type=int, default=2, help="workers per pool (local, and per Ray node)")
    parser.add_argument("--requests", type=int, default=400, help="generation requests per endpoint setting")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the scripted servers' time per request")
    args = parser.parse_args()
    if INSIDE in os.environ:  # re-executed below: the child checks it really is in a namespace of its own
        inside(args, os.environ[INSIDE])
        return
    prefix = netns.prefix()
    if prefix is None:
        sys.exit("perf/scale.py: cannot create a network namespace (unshare --net); Ray is not started outside one")
    env = {**os.environ, INSIDE: os.readlink("/proc/self/ns/net")}
    sys.exit(subprocess.run([*prefix, sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env=env).returncode)


if __name__ == "__main__":
    main()
