"""``progsynth sandbox-check``: which protections this host gives the executor, and a short self-test
that attacks a real pool and then inspects the host (canary file, listener, leftover processes)."""

from __future__ import annotations

import os
import platform
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from progsynth.execution.api import ExecRequest, Limits
from progsynth.execution.sandbox.protections import ProtectionStatus, SandboxWarning, format_table
from progsynth.verdicts import Status, Verdict

LIMITS = Limits(timeout_s=1.0, wall_timeout_s=5.0, memory_mb=512)
_SECRET_NAME = "PROGSYNTH_SELFCHECK_SECRET"
_IPC_CREAT, _IPC_EXCL, _IPC_RMID = 0o1000, 0o2000, 0


@dataclass(frozen=True)
class Check:
    """One self-test's outcome, as the report shows it."""

    name: str
    ok: bool | None  # None: not applicable on this host (the protection is off)
    detail: str = ""


@dataclass
class _Host:
    dir: Path
    canary: Path
    listener: socket.socket
    secret: str
    unix: socket.socket | None = None  # a unix socket listening on a path in ``dir``
    queue_key: int = 0  # a SysV message queue's key (0: none could be made)
    hits: int = 0
    unix_hits: int = 0


def _programs(host: _Host) -> dict[str, tuple[str, tuple[str, ...]]]:
    port = host.listener.getsockname()[1]
    return {
        "right": ("def f(x):\n    return x * 2\n", ("assert f(21) == 42",)),
        "wrong": ("def f(x):\n    return x + 2\n", ("assert f(21) == 42",)),
        "cheat": ("class Y:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return Y()\n",
                  ("assert f(21) == 42",)),
        "exit0": ("import sys\nsys.exit(0)\n", ("assert False",)),
        "loop": ("while True:\n    pass\n", ()),
        "net": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n", ()),
        "write": (f"open({str(host.canary)!r}, 'w').write('changed')\n", ()),
        "env": (f"import os\nprint(os.environ.get({_SECRET_NAME!r}))\n", ()),
        "unix": (f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.settimeout(2)\n"
                 f"s.connect({str(host.dir / 'host.sock')!r})\ns.sendall(b'x')\n", ()),
        "sysv": ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                 f"if libc.msgget({host.queue_key}, 0) >= 0:\n    raise SystemExit('reached')\n", ("assert False",)),
        "daemon": ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    print('PID', os.getpid(), flush=True)\n"
                   "    time.sleep(120)\n    os._exit(0)\ntime.sleep(0.2)\n", ()),
    }


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _judge(v: dict[str, Verdict], host: _Host, active: Callable[[str], bool]) -> list[Check]:
    def status(name: str) -> str:
        return v[name].status.value

    pids = [int(line.split()[1]) for line in v["daemon"].stdout.splitlines() if line.startswith("PID ")]
    checks = [
        Check("a correct program passes", v["right"].passed, status("right")),
        Check("a wrong program fails", v["wrong"].status is Status.FAILED, status("wrong")),
        Check("an object whose __eq__ is always True fails", not v["cheat"].passed, status("cheat")),
        Check("sys.exit(0) before the asserts fails", not v["exit0"].passed, status("exit0")),
        Check("an infinite loop times out (CPU time)", v["loop"].status is Status.TIMEOUT,
              f"{status('loop')}, {v['loop'].cpu_s:.2f} s CPU"),
        Check("no connection to a 127.0.0.1 listener", host.hits == 0 and not v["net"].passed
              if active("network") else None, f"{status('net')}, listener saw {host.hits} connection(s)"),
        Check("a file outside the sandbox cannot be written", host.canary.read_text() == "canary"
              if active("landlock") or active("filesystem") or active("uid") else None, status("write")),
        Check("no connection to a unix socket on the host", host.unix_hits == 0 and not v["unix"].passed
              if active("ipc") and host.unix is not None else None,
              f"{status('unix')}, listener saw {host.unix_hits} connection(s)"),
        Check("the host's SysV message queue is out of reach", v["sysv"].status is Status.FAILED
              if active("ipc") and host.queue_key else None, status("sysv")),
        Check("the caller's environment is not visible", host.secret not in v["env"].stdout, "clean environment"),
        Check("a daemon is killed with its program", bool(pids) and all(_gone(p) for p in pids)
              if active("tree_kill") else None, f"pids {pids}"),
    ]
    return checks


def _accept(host: _Host, listener: socket.socket, unix: bool = False) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if unix:
            host.unix_hits += 1
        else:
            host.hits += 1
        conn.close()


def _ipc_objects(host: _Host) -> None:
    """A unix socket anyone may connect to and a SysV queue anyone may write (where the host allows)."""
    import ctypes

    try:
        host.unix = socket.socket(socket.AF_UNIX)
        host.unix.bind(str(host.dir / "host.sock"))
        os.chmod(host.dir / "host.sock", 0o777)
        host.unix.listen()
        threading.Thread(target=_accept, args=(host, host.unix, True), daemon=True).start()
    except OSError:
        host.unix = None
    key = int.from_bytes(os.urandom(3), "big") + 1
    if ctypes.CDLL(None, use_errno=True).msgget(key, 0o666 | _IPC_CREAT | _IPC_EXCL) >= 0:
        host.queue_key = key


def _close_ipc_objects(host: _Host) -> None:
    import ctypes

    if host.unix is not None:
        host.unix.close()
    if host.queue_key:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.msgctl(libc.msgget(host.queue_key, 0), _IPC_RMID, None)


def _report(protections: dict[str, ProtectionStatus], checks: list[Check], seconds: float, workers: int) -> str:
    lines = [f"progsynth sandbox check: Linux {platform.release()}, Python {platform.python_version()}, "
             f"uid {os.getuid()}", "", "Protections:", format_table(protections), "", "Self-test:"]
    for c in checks:
        mark = "ok  " if c.ok else "n/a " if c.ok is None else "FAIL"
        lines.append(f"  {mark} {c.name}" + (f"  ({c.detail})" if c.detail else ""))
    failed = sum(1 for c in checks if c.ok is False)
    ran = sum(1 for c in checks if c.ok is not None)
    off = [name for name, s in protections.items() if not s.active]
    lines += ["", f"Result: {ran - failed}/{ran} checks passed in {seconds:.1f} s with {workers} worker(s)"
              + (f"; inactive protections: {', '.join(off)}" if off else "; every protection active")]
    return "\n".join(lines)


def run_selfcheck(workers: int = 2) -> tuple[str, bool]:
    """The report text and whether every applicable self-test passed."""
    from progsynth.execution import create_executor

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="progsynth-selfcheck-") as tmp:
        os.chmod(tmp, 0o777)
        canary = Path(tmp) / "canary.txt"
        canary.write_text("canary")
        canary.chmod(0o666)
        host = _Host(Path(tmp), canary, socket.create_server(("127.0.0.1", 0)), f"secret-{os.urandom(8).hex()}")
        threading.Thread(target=_accept, args=(host, host.listener), daemon=True).start()
        _ipc_objects(host)
        os.environ[_SECRET_NAME] = host.secret
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SandboxWarning)  # the table below says it all
                with create_executor(limits=LIMITS, workers=workers) as ex:
                    protections = dict(ex.protections)
                    reqs = [ExecRequest(k, p, t, limits=LIMITS) for k, (p, t) in _programs(host).items()]
                    verdicts = dict(ex.run(reqs))
            checks = _judge(verdicts, host, lambda name: protections[name].active)
        finally:
            os.environ.pop(_SECRET_NAME, None)
            host.listener.close()
            _close_ipc_objects(host)
    ok = all(c.ok is not False for c in checks)
    return _report(protections, checks, time.monotonic() - start, workers), ok
