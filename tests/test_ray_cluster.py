"""``progsynth evaluate --ray`` on a real two-node Ray cluster, one node killed mid-run.

The cluster lives in a network namespace of its own with only loopback up (``unshare --net``), where
Ray binds 127.0.0.1: a test must never open ports on the machine's interfaces. This file is also
the script run inside that namespace (``python test_ray_cluster.py cluster ...``): it starts a head
and a second node (each with one CPU; the second with a ``node2`` resource of its own), runs the
evaluation, kills the second node's raylet once some verdicts are in, and stops every Ray process
(``ray stop --force`` in ``finally``, then any process left in the namespace by pid).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # as a script too: tests/servers importable
from servers import netns  # noqa: E402

HERE = Path(__file__).resolve()
BIN = Path(sys.executable).parent
PORT = 6379
#: results keys that describe where and when a run happened, not what it found
VOLATILE = ("created", "config", "environment", "sandbox", "timing", "samples_file", "timeouts")
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "1000",
           "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"}


def write_samples(path: Path, tasks: int) -> int:
    """Per MBPP task: the reference, a wrong program, and the reference after a one-second sleep
    (so that the run lasts long enough for a node to die in the middle of it)."""
    from progsynth.benchmarks import get_benchmark
    from progsynth.benchmarks.sources import data_config_from_env

    problems = get_benchmark("mbpp").load("test", data_config_from_env(None))[:tasks]
    lines = []
    for p in problems:
        for idx, completion in enumerate((p.reference, "def unrelated():\n    return None\n",
                                          "import time\ntime.sleep(1.0)\n" + p.reference)):
            lines.append(json.dumps({"task_id": p.task_id, "sample_idx": idx, "completion": completion}))
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def stable(results: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in results.items() if k not in VOLATILE}


def verdict_keys(path: Path) -> list[tuple[str, int, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((r["task_id"], r["sample_idx"], r["suite"]) for r in rows)


EVALUATE = ["evaluate", "--fixed-timeouts", "--no-challenge", "--workers", "2", "--quiet"]


@pytest.mark.slow
def test_a_node_killed_mid_run_loses_nothing_and_changes_nothing(tmp_path: Path) -> None:
    prefix = netns.ray_cluster_prefix()
    samples = tmp_path / "samples.jsonl"
    count = write_samples(samples, 40)
    local = subprocess.run([str(BIN / "progsynth"), *EVALUATE, "--samples", str(samples), "--out", str(tmp_path / "local")],
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-2000:]
    report = tmp_path / "cluster.json"
    inner = subprocess.run([*prefix, sys.executable, str(HERE), "cluster", str(samples), str(tmp_path / "ray"),
                            str(report), _my_netns()], capture_output=True, text=True, timeout=480)
    assert inner.returncode == 0, inner.stdout[-3000:] + inner.stderr[-3000:]
    facts = json.loads(report.read_text())
    print({k: facts[k] for k in ("killed", "verdicts_at_kill", "rc")}, facts["stderr"][-1500:])  # shown with -s
    assert facts["rc"] == 0, facts["stderr"][-3000:]
    assert facts["killed"], facts  # the second node's raylet was found and killed...
    assert 0 < facts["verdicts_at_kill"] < count, facts  # ...in the middle of the run
    assert "lost" in facts["stderr"] and "resubmitted" in facts["stderr"], facts["stderr"][-2000:]
    on_ray = json.loads((tmp_path / "ray" / "results.json").read_text())
    alone = json.loads((tmp_path / "local" / "results.json").read_text())
    assert stable(on_ray) == stable(alone)
    assert on_ray["config"]["ray_address"] == f"127.0.0.1:{PORT}"
    keys = verdict_keys(tmp_path / "ray" / "verdicts.jsonl")
    assert keys == verdict_keys(tmp_path / "local" / "verdicts.jsonl") and len(keys) == len(set(keys)) == count
    assert "Ray nodes" in on_ray["sandbox"]["seccomp"]["detail"]  # each node's protections, recorded


# --- the part that runs inside the namespace ----------------------------------------------------------


def _ray(*args: str) -> None:
    subprocess.run([str(BIN / "ray"), *args], check=True, capture_output=True, timeout=120,
                   env={**os.environ, **RAY_ENV})


def _my_netns() -> str:
    return os.readlink("/proc/self/ns/net")


def cluster_main(samples: Path, out_dir: Path, report: Path, outer_netns: str, kill_after: int = 25) -> None:
    """Head + second node, evaluate on them, kill the second node's raylet mid-run (see the module
    docstring). Writes what happened to ``report``; always stops every Ray process it started."""
    netns.loopback_up()
    netns.check_isolated(outer_netns)
    here = _my_netns()
    facts: dict[str, Any] = {"killed": [], "verdicts_at_kill": 0}
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    try:
        _ray("start", "--head", f"--port={PORT}", "--num-cpus=1", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={temp}")
        _ray("start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1", '--resources={"node2": 1}',
             "--disable-usage-stats", f"--temp-dir={temp}")
        cmd = [str(BIN / "progsynth"), *EVALUATE, "--ray", f"127.0.0.1:{PORT}", "--samples", str(samples),
               "--out", str(out_dir)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **RAY_ENV})
        verdicts = out_dir / "verdicts.jsonl"
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline and not facts["killed"]:
            done = len(verdicts.read_text().splitlines()) if verdicts.exists() else 0
            if done >= kill_after:
                raylets = [p for p in netns.namespace_pids(here, "raylet") if "node2" in _cmdline(p)]
                for pid in raylets:
                    os.kill(pid, signal.SIGKILL)
                facts.update(killed=raylets, verdicts_at_kill=done)
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=max(10.0, deadline - time.monotonic()))
        facts.update(rc=proc.returncode, stdout=stdout, stderr=stderr)
    finally:
        netns.stop_ray(BIN / "ray", here, temp)
        report.write_text(json.dumps(facts))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


if __name__ == "__main__" and sys.argv[1:2] == ["cluster"]:
    cluster_main(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5])
