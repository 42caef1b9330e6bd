"""Runs every program of tests/hostile/cases.py in one pool, then checks each verdict AND the host:
canaries intact, no file dropped, listeners untouched, no secret or expected value in any output,
no process left behind, the caller never signalled, bystanders alive, the pool unharmed.

Where the host lacks a protection (the executor reports which), the checks that depend on it are
not asserted; the verdict of every other case still is."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostile.base import IpcHost
from hostile.cases import CASES, Case, Category

from progsynth.execution import ExecRequest, Limits, create_executor
from progsynth.verdicts import Status, Verdict

LIMITS = Limits(timeout_s=1.0, wall_timeout_s=4.0, memory_mb=512, output_bytes=64 * 1024)
SECRET_NAME = "PROGSYNTH_HOSTILE_SECRET"
CANARY_TEXT = "canary: must never change\n"


@dataclass
class Host:
    """The things a hostile program might try to reach, and what happened to them."""

    dir: Path
    canary: Path
    secret: str
    token: str
    guess: str
    tcp: socket.socket
    udp: socket.socket
    victim: subprocess.Popen[bytes]
    data_file: str
    ipc: IpcHost
    tcp_hits: list[bytes] = field(default_factory=list)
    udp_hits: list[bytes] = field(default_factory=list)
    usr1: list[int] = field(default_factory=list)

    def fill(self, text: str) -> str:
        text = self.ipc.fill(text)
        for key, value in {"@CANARY@": str(self.canary), "@HOSTDIR@": str(self.dir),
                           "@PORT@": str(self.tcp.getsockname()[1]), "@UDP@": str(self.udp.getsockname()[1]),
                           "@SECRET@": SECRET_NAME, "@CALLER@": str(os.getpid()), "@VICTIM@": str(self.victim.pid),
                           "@TOKEN@": self.token, "@GUESS@": self.guess, "@DATAFILE@": self.data_file}.items():
            text = text.replace(key, value)
        return text


@dataclass
class Outcome:
    host: Host
    verdicts: dict[str, Verdict]
    protections: dict[str, bool]
    details: dict[str, str]
    sandbox_uids: range
    pool_alive: bool
    workers_before: list[int]
    workers_after: list[int]
    clean_tmp_after: Verdict


def _listen(host: Host) -> None:
    def tcp() -> None:
        while True:
            try:
                conn, _ = host.tcp.accept()
            except OSError:
                return
            host.tcp_hits.append(conn.recv(100) or b"<connect>")
            conn.close()

    def udp() -> None:
        while True:
            try:
                host.udp_hits.append(host.udp.recv(100))
            except OSError:
                return

    for target in (tcp, udp):
        threading.Thread(target=target, daemon=True).start()


def _make_host(base: Path) -> Host:
    base.chmod(0o777)
    canary = base / "canary.txt"
    canary.write_text(CANARY_TEXT)
    canary.chmod(0o666)
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    data_dir = os.environ.get("PROGSYNTH_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    rng = random.SystemRandom()
    return Host(base, canary, f"s3cret-{rng.getrandbits(64):x}", str(rng.randrange(10**8, 10**9)),
                str(rng.randrange(10**8, 10**9)), tcp, udp, subprocess.Popen(["sleep", "600"]),
                os.path.join(os.path.abspath(data_dir), "mbpp", "mbpp.jsonl"), IpcHost.open())


def _runnable(case: Case, active: dict[str, bool]) -> bool:
    return not case.run_if_any or any(active.get(p) for p in case.run_if_any)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    host = _make_host(tmp_path_factory.mktemp("hostile-host"))
    _listen(host)
    old_handler = signal.signal(signal.SIGUSR1, lambda signum, frame: host.usr1.append(signum))
    os.environ[SECRET_NAME] = host.secret
    try:
        with create_executor(limits=LIMITS, workers=2) as ex:
            active = {name: s.active for name, s in ex.protections.items()}
            details = {name: s.detail for name, s in ex.protections.items()}
            before = sorted(ex.worker_pids())
            requests = [ExecRequest(c.name, host.fill(c.program), tuple(host.fill(t) for t in c.tests), limits=LIMITS)
                        for c in CASES if _runnable(c, active)]
            verdicts = dict(ex.run(requests))
            # a fresh program must find an empty working directory whatever came before
            clean = dict(ex.run([ExecRequest("clean", "import os\nLEFT = os.listdir('.')\n", ("assert LEFT == []",),
                                             limits=LIMITS)]))["clean"]
            pool_alive = _alive(ex.pool_pid)
            after = sorted(ex.worker_pids())
            uids = ex.sandbox_uids
        yield Outcome(host, verdicts, active, details, uids, pool_alive, before, after, clean)
    finally:
        os.environ.pop(SECRET_NAME, None)
        signal.signal(signal.SIGUSR1, old_handler)
        host.victim.kill()
        host.victim.wait()
        host.tcp.close()
        host.udp.close()
        host.ipc.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _uid_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_suite_covers_every_category_with_at_least_40_programs() -> None:
    assert len(CASES) >= 40
    assert {c.category for c in CASES} == set(Category)
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_verdict(case: Case, outcome: Outcome) -> None:
    if not _runnable(case, outcome.protections):
        assert case.name not in outcome.verdicts  # deliberately not run on this host
        return
    verdict = outcome.verdicts[case.name]
    if all(outcome.protections.get(p, False) for p in case.needs):
        assert verdict.status in case.expect, f"{case.name}: {verdict}"
        if case.error_types and verdict.status in (Status.ERROR, Status.KILLED):
            assert verdict.error_type in case.error_types, f"{case.name}: {verdict}"
    if case.category is Category.CHEAT:
        assert not verdict.passed, f"cheat passed: {case.name}: {verdict}"


def test_canary_and_host_directory_untouched(outcome: Outcome) -> None:
    if not (outcome.protections["landlock"] or outcome.protections["filesystem"] or outcome.protections["uid"]):
        return
    canary = outcome.host.canary
    assert canary.read_text() == CANARY_TEXT
    assert canary.stat().st_mode & 0o777 == 0o666
    assert sorted(p.name for p in outcome.host.dir.iterdir()) == ["canary.txt"]
    assert not Path("/dev/shm/progsynth-hostile").exists()


def test_listeners_on_localhost_untouched(outcome: Outcome) -> None:
    if outcome.protections["network"]:
        assert outcome.host.tcp_hits == []
    if outcome.protections["network"] and "namespace" in outcome.details["network"]:
        assert outcome.host.udp_hits == []  # Landlock alone covers TCP only


def test_host_ipc_objects_untouched(outcome: Outcome) -> None:
    seen = outcome.host.ipc.traffic()
    if not outcome.protections["landlock"]:
        seen.pop("fifo", None)  # only Landlock keeps a world-writable FIFO out of reach
    if outcome.protections["ipc"]:
        assert seen == {}
        for name, v in outcome.verdicts.items():
            assert outcome.host.ipc.secret not in v.stdout + v.stderr + v.message, name


def test_no_secret_or_expected_value_in_any_output(outcome: Outcome) -> None:
    for name, v in outcome.verdicts.items():
        text = v.stdout + v.stderr + v.message
        if outcome.protections["uid"] or name not in ("read_caller_environ", "scan_all_environs"):
            assert outcome.host.secret not in text, name
        assert outcome.host.token not in text, name
        if outcome.protections["landlock"] or outcome.protections["filesystem"]:
            assert "similar_elements" not in text.replace('b"similar_elements"', ""), name


def test_no_process_left_behind(outcome: Outcome) -> None:
    spawned = [int(line.split()[1]) for c in CASES if c.spawns and c.name in outcome.verdicts
               for line in outcome.verdicts[c.name].stdout.splitlines() if line.startswith("PID ")]
    assert spawned, "the daemon cases report the processes they start"
    if outcome.protections["tree_kill"]:
        leftovers = [p for p in spawned if _state(p) != "gone" and _uid_of(p) in outcome.sandbox_uids]
        assert leftovers == []
    if outcome.protections["uid"]:
        stray = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _uid_of(p) in outcome.sandbox_uids]
        assert stray == []


def test_caller_bystander_and_pool_unharmed(outcome: Outcome) -> None:
    if outcome.protections["uid"] or outcome.protections["landlock"]:
        assert outcome.host.usr1 == []
        assert outcome.host.victim.poll() is None
        assert outcome.workers_after == outcome.workers_before
    assert outcome.pool_alive


def test_each_program_starts_in_an_empty_directory(outcome: Outcome) -> None:
    assert outcome.clean_tmp_after.passed, outcome.clean_tmp_after
