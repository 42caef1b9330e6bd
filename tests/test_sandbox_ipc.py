"""Host IPC and hidden data, from the program's side (issue #9): the hostile IPC cases really do reach
an unprotected host (so their passing in the hostile suite means something), the IPC a test program
legitimately uses keeps working, and hidden paths stay hidden whatever form they are given in."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile.base import IpcHost
from hostile.escape import ESCAPES

import progsynth
from progsynth.execution import ExecRequest, Limits, SandboxConfig, SandboxWarning, create_executor
from progsynth.verdicts import Status, Verdict

LIMITS = Limits(timeout_s=2.0, wall_timeout_s=8.0, memory_mb=512)
ROOT = os.geteuid() == 0
IPC_CASES = ("connect_unix_socket_path", "unix_datagram_to_host_path", "datagram_socketpair_to_host_path",
             "connect_abstract_socket", "write_host_fifo", "sysv_shared_memory", "sysv_message_queue",
             "sysv_semaphore", "posix_message_queue", "read_host_dev_shm")


def _run(programs: dict[str, tuple[str, tuple[str, ...]]], sandbox: SandboxConfig | None = None,
         ) -> tuple[dict[str, Verdict], dict[str, str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        with create_executor(limits=LIMITS, workers=1, sandbox=sandbox) as ex:
            details = {name: ("on  " if s.active else "OFF ") + s.detail for name, s in ex.protections.items()}
            verdicts = dict(ex.run([ExecRequest(k, p, t, limits=LIMITS) for k, (p, t) in programs.items()]))
    return verdicts, details


@pytest.mark.skipif(not ROOT, reason="needs root: the cases run under a sandbox uid with the IPC protections off")
def test_ipc_cases_reach_a_host_without_the_protections() -> None:
    ipc = IpcHost.open()
    try:
        cases = {c.name: (ipc.fill(c.program), ("assert True",)) for c in ESCAPES if c.name in IPC_CASES}
        assert sorted(cases) == sorted(IPC_CASES)
        off = SandboxConfig(seccomp=False, landlock=False, mount_namespace=False, network_namespace=False,
                            ipc_namespace=False)
        verdicts, details = _run(cases, off)
        seen = ipc.traffic()
    finally:
        ipc.close()
    assert details["ipc"].startswith("OFF")
    assert set(seen) == {"unix", "dgram", "abstract", "fifo", "shm", "msg", "sem", "mq"}, (seen, verdicts)
    assert ipc.secret in verdicts["read_host_dev_shm"].stdout


LEGIT = {
    "multiprocessing_pool": ("import multiprocessing as mp\ndef f(xs):\n    with mp.Pool(2) as p:\n"
                             "        return p.map(abs, xs)\n", ("assert f([-1, -2]) == [1, 2]",)),
    "multiprocessing_queue_and_lock": ("import multiprocessing as mp\nq = mp.Queue()\nlock = mp.Lock()\n"
                                       "with lock:\n    q.put(7)\nGOT = q.get(timeout=2)\n", ("assert GOT == 7",)),
    "process_pool_executor": ("from concurrent.futures import ProcessPoolExecutor\nwith ProcessPoolExecutor(2) as ex:\n"
                              "    R = list(ex.map(abs, [-3, 4]))\n", ("assert R == [3, 4]",)),
    "pipe_and_socketpair": ("import multiprocessing as mp, socket\na, b = mp.Pipe()\na.send(1)\n"
                            "c, d = socket.socketpair()\nc.sendall(b'x')\nGOT = (b.recv(), d.recv(1))\n",
                            ("assert GOT == (1, b'x')",)),
    "asyncio_subprocess": ("import asyncio, sys\nasync def main():\n    p = await asyncio.create_subprocess_exec("
                           "sys.executable, '-c', 'print(6*7)', stdout=asyncio.subprocess.PIPE)\n"
                           "    return (await p.communicate())[0]\nOUT = asyncio.run(main())\n",
                           ("assert OUT.strip() == b'42'",)),
    "writes_dev_shm": ("import os\nopen('/dev/shm/mine', 'w').write('x')\nSEEN = os.listdir('/dev/shm')\n",
                       ("assert SEEN == ['mine']",)),
    "dev_shm_empty_for_the_next": ("import os\nSEEN = os.listdir('/dev/shm')\n", ("assert SEEN == []",)),
    "unix_socket_refused": ("import socket\ntry:\n    socket.socket(socket.AF_UNIX)\n    R = 'made'\n"
                            "except OSError as e:\n    R = e.errno\n", ("import errno\nassert R == errno.EAFNOSUPPORT",)),
}


NEEDS_SHM = {"multiprocessing_pool", "multiprocessing_queue_and_lock", "process_pool_executor", "writes_dev_shm",
             "dev_shm_empty_for_the_next"}


def test_legitimate_ipc_keeps_working() -> None:
    """Multiprocessing needs a writable /dev/shm (its locks are POSIX semaphores): it works where the
    worker has a private one (root), and nothing a program leaves there reaches the next program."""
    verdicts, details = _run(LEGIT)
    if not details["ipc"].startswith("on"):
        pytest.skip(f"no IPC protection on this host: {details['ipc']}")
    expected = set(LEGIT) if "private /dev/shm" in details["ipc"] else set(LEGIT) - NEEDS_SHM
    assert {k: v for k, v in verdicts.items() if k in expected and not v.passed} == {}, details["ipc"]


@pytest.fixture
def data_tree() -> Iterator[Path]:
    """A directory every uid can enter (pytest's tmp_path cannot be, which would hide it anyway)."""
    base = Path(tempfile.mkdtemp(prefix="progsynth-hidden-"))
    base.chmod(0o755)
    for name in ("a", "b", "c"):
        (base / name).mkdir(mode=0o755)
        (base / name / "secret.txt").write_text(f"TOPSECRET of {name}")
        (base / name / "secret.txt").chmod(0o644)
    (base / "visible.txt").write_text("visible")
    (base / "visible.txt").chmod(0o644)
    (base / "link").symlink_to(base / "a")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _reader(path: str) -> tuple[str, tuple[str, ...]]:
    return f"DATA = open({path!r}).read()\n", ("assert 'TOPSECRET' not in DATA",)


@pytest.mark.skipif(not ROOT, reason="hiding needs a mount namespace (root)")
def test_hidden_as_symlink_relative_or_not_yet_existing(data_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_tree)
    later = data_tree / "later"
    sandbox = SandboxConfig(extra_readable=(str(data_tree),), hidden=(str(data_tree / "link"), "b", str(later)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        with create_executor(limits=LIMITS, workers=1, sandbox=sandbox) as ex:
            later.mkdir(mode=0o755)  # made after the pool started, as a cache would be
            (later / "secret.txt").write_text("TOPSECRET made later")
            (later / "secret.txt").chmod(0o644)
            programs = {"visible": (f"DATA = open({str(data_tree / 'visible.txt')!r}).read()\n",
                                    ("assert DATA == 'visible'",)),
                        "unhidden": _reader(str(data_tree / "c" / "secret.txt")),
                        **{name: _reader(str(data_tree / name / "secret.txt")) for name in ("a", "link", "b", "later")}}
            verdicts = dict(ex.run([ExecRequest(k, p, t, limits=LIMITS) for k, (p, t) in programs.items()]))
            detail = ex.protections["filesystem"].detail
    assert verdicts["visible"].passed, verdicts["visible"]
    assert verdicts["unhidden"].status is Status.FAILED  # readable: the hidden ones are hidden, not unreachable
    for name in ("a", "link", "b", "later"):
        assert verdicts[name].status is Status.ERROR, (name, verdicts[name])
        assert "TOPSECRET" not in verdicts[name].stdout + verdicts[name].message
    assert "NOT hidden" not in detail


@pytest.mark.skipif(not ROOT, reason="hiding needs a mount namespace (root)")
def test_hiding_the_pools_own_directories_keeps_the_pool_working() -> None:
    """The checkout (holding src/ and .venv) and the temp dir (holding the pool's scratch) hidden:
    programs still run and import, other files there are gone, and a directory the pool cannot
    do without (src/ itself) is reported as not hidden rather than breaking every program."""
    checkout = Path(progsynth.__file__).resolve().parents[2]
    src = checkout / "src"
    sandbox = SandboxConfig(extra_readable=(str(checkout),), hidden=(str(checkout), tempfile.gettempdir(), str(src)))
    programs = {
        "right": ("def f(x):\n    return x * 2\n", ("assert f(21) == 42",)),
        "imports": ("import email.mime.text, pytest, progsynth.metrics\n", ("assert True",)),
        "writes_cwd": ("open('x', 'w').write('1')\nR = open('x').read()\n", ("assert R == '1'",)),
        "checkout_file": _reader(str(checkout / "pyproject.toml")),
    }
    verdicts, details = _run(programs, sandbox)
    for name in ("right", "imports", "writes_cwd"):
        assert verdicts[name].passed, (name, verdicts[name])
    assert verdicts["checkout_file"].status is Status.ERROR, verdicts["checkout_file"]
    assert f"NOT hidden: {src}" in details["filesystem"], details["filesystem"]
