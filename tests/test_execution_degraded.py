"""Hosts without some protection: the pool still runs, says so (SandboxWarning, ``protections``),
refuses to start when a required protection is missing, and the fallbacks still kill process trees.
Only mechanisms that are safe to drop on a shared test machine are switched off here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import progsynth
from progsynth.errors import ExecutionError
from progsynth.execution import ExecRequest, Limits, SandboxConfig, SandboxWarning, create_executor
from progsynth.verdicts import Status, Verdict

LIMITS = Limits(timeout_s=1.0, wall_timeout_s=6.0, memory_mb=512)
DAEMON = ("import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n    os.setsid()\n    print('PID', os.getpid(), flush=True)\n"
          "    os.write(w, b'x')\n    time.sleep(120)\n    os._exit(0)\nos.read(r, 1)\n")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _exercise(sandbox: SandboxConfig) -> tuple[dict[str, bool], dict[str, Verdict]]:
    with pytest.warns(SandboxWarning) as caught, create_executor(limits=LIMITS, workers=1, sandbox=sandbox) as ex:
        active = {name: s.active for name, s in ex.protections.items()}
        reqs = [ExecRequest("ok", "def f(x):\n    return x + 1\n", ("assert f(1) == 2",)),
                ExecRequest("bad", "def f(x):\n    return x\n", ("assert f(1) == 2",)),
                ExecRequest("loop", "while True:\n    pass\n", ()),
                ExecRequest("daemon", DAEMON, ("assert True",))]
        verdicts = dict(ex.run(reqs))
    assert {str(w.message).split("'")[1] for w in caught} == {n for n, on in active.items() if not on}
    return active, verdicts


def _check_common(verdicts: dict[str, Verdict]) -> None:
    ok, bad, loop, daemon = (verdicts[k] for k in ("ok", "bad", "loop", "daemon"))
    assert ok.status is Status.PASSED and bad.status is Status.FAILED
    assert loop.status is Status.TIMEOUT and loop.cpu_s < 3
    pids = [int(line.split()[1]) for line in daemon.stdout.splitlines() if line.startswith("PID")]
    assert pids and not any(_alive(p) for p in pids)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching these off only matters where root could use them")
def test_without_namespaces_landlock_and_seccomp() -> None:
    active, verdicts = _exercise(SandboxConfig(landlock=False, seccomp=False, mount_namespace=False,
                                               network_namespace=False))
    assert not any(active[n] for n in ("landlock", "seccomp", "filesystem", "network"))
    _check_common(verdicts)


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid fallback needs root to switch uid")
def test_without_cgroups_the_sandbox_uid_is_swept() -> None:
    active, verdicts = _exercise(SandboxConfig(cgroups=False))
    assert not active["cgroups"] and active["tree_kill"] and active["uid"]
    _check_common(verdicts)


def test_without_uid_isolation_landlock_still_confines() -> None:
    active, verdicts = _exercise(SandboxConfig(isolate_uid=False))
    assert not active["uid"]
    _check_common(verdicts)


def test_required_protection_missing_refuses_to_start() -> None:
    with pytest.warns(SandboxWarning), pytest.raises(ExecutionError, match="landlock"):
        create_executor(workers=1, sandbox=SandboxConfig(landlock=False), require=["landlock"])


def test_cgroup_v2_code_path() -> None:
    """cgroup v2 where the host has it (a hybrid or unified hierarchy): kill and CPU accounting."""
    from progsynth.execution.sandbox import cgroups

    roots = cgroups.discover(prefer_v2=True)
    if roots is None or roots.version != 2:
        pytest.skip("no writable cgroup v2 hierarchy on this host")
    with create_executor(limits=LIMITS, workers=1, sandbox=SandboxConfig(cgroup_version=2)) as ex:
        assert "cgroup v2" in ex.protections["cgroups"].detail
        verdicts = dict(ex.run([ExecRequest("ok", "def f(x):\n    return x + 1\n", ("assert f(1) == 2",)),
                                ExecRequest("bad", "def f(x):\n    return x\n", ("assert f(1) == 2",)),
                                ExecRequest("loop", "while True:\n    pass\n", ()),
                                ExecRequest("daemon", DAEMON, ("assert True",))]))
    _check_common(verdicts)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and util-linux's setpriv to become an unprivileged user")
def test_unprivileged_user_gets_landlock_seccomp_and_tree_kill() -> None:
    """The laptop case: no root, so no uid switch, namespaces or cgroups. The test process drops to
    uid 65534 keeping only CAP_DAC_READ_SEARCH, so it can still read a Python installed under a
    private home directory (as here: /root/.pyenv)."""
    script = ("import warnings\nwarnings.simplefilter('ignore')\n"
              "from progsynth.execution.sandbox.selfcheck import run_selfcheck\n"
              "text, ok = run_selfcheck(workers=1)\nprint(text)\nraise SystemExit(0 if ok else 1)\n")
    src = str(Path(progsynth.__file__).resolve().parents[1])
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_read_search",
           "--ambient-caps=+dac_read_search", "env", "HOME=/tmp", f"PYTHONPATH={src}", sys.executable, "-c", script]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "uid 65534" in done.stdout
    for line in ("OFF  uid", "OFF  filesystem", "OFF  cgroups", "on   landlock", "on   seccomp", "on   tree_kill"):
        assert line in done.stdout, done.stdout
    assert "a daemon is killed with its program" in done.stdout and "FAIL" not in done.stdout


def test_without_seccomp_host_ipc_is_reported_open() -> None:
    """Only seccomp keeps a program from unix sockets reached by path (a host daemon's), so without
    it the ipc protection is off and says why, whatever else (an IPC namespace) is still there."""
    with pytest.warns(SandboxWarning, match="'ipc'"), \
            create_executor(limits=LIMITS, workers=1, sandbox=SandboxConfig(seccomp=False)) as ex:
        status = ex.protections["ipc"]
        verdicts = dict(ex.run([ExecRequest("ok", "def f(x):\n    return x + 1\n", ("assert f(1) == 2",))]))
    assert not status.active and "unix sockets reachable by path" in status.detail
    if os.geteuid() == 0:
        assert "own IPC namespace" in status.detail
    assert verdicts["ok"].passed
