"""What a hostile case is. Each case is a program, its tests, the verdicts allowed when the named
protections are active, and what the host must look like afterwards (checked by the test module).

Placeholders filled in at run time: @CANARY@ (a world-writable file the program must not touch),
@HOSTDIR@ (a world-writable host directory), @PORT@ / @UDP@ (listeners on 127.0.0.1), @SECRET@
(name of an environment variable holding a secret in the caller), @CALLER@ (the test process, which
counts SIGUSR1), @VICTIM@ (a root-owned bystander process), @TOKEN@ (an expected value drawn at
random: it appears only in tests, never in a program, so no file or program can hold it), @GUESS@
(a value a cheating program "knows"), @DATAFILE@ (benchmark data with expected outputs).

Host IPC objects (``IpcHost``, made by the test, each open to every uid): @UNIXSOCK@ / @UNIXDGRAM@
(unix stream / datagram sockets bound to paths), @ABSTRACT@ (an abstract socket's name, without the
leading NUL), @FIFO@ (a named pipe the host reads), @SHMKEY@ / @MSGKEY@ / @SEMKEY@ (SysV shared
memory, message queue, semaphore), @MQNAME@ (a POSIX message queue), @SHMFILE@ (a file in the
host's /dev/shm holding a secret).
"""

from __future__ import annotations

import ctypes
import enum
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from progsynth.verdicts import Status

P, F, E, T, K = Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.KILLED
NOT_PASSED = frozenset({F, E, T, K})


class Category(enum.Enum):
    ESCAPE = "escape"
    RESOURCE = "resource"
    CHEAT = "cheat"
    CRASH = "crash"
    BENIGN = "benign"


@dataclass(frozen=True)
class Case:
    name: str
    category: Category
    program: str
    tests: tuple[str, ...]
    expect: frozenset[Status]
    #: protections that must be active for ``expect`` to hold (else the verdict is not asserted)
    needs: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    #: the program prints "PID <n>" for each process it leaves behind; all must be gone afterwards
    spawns: bool = False
    #: run only if one of these protections is active (the program would harm an unprotected host)
    run_if_any: tuple[str, ...] = ()


def case(name: str, category: Category, program: str, tests: tuple[str, ...], expect: Status | frozenset[Status],
         needs: tuple[str, ...] = (), error_types: tuple[str, ...] = (), spawns: bool = False,
         run_if_any: tuple[str, ...] = ()) -> Case:
    allowed = expect if isinstance(expect, frozenset) else frozenset({expect})
    return Case(name, category, program.strip() + "\n", tests, allowed, needs, error_types, spawns, run_if_any)


RIGHT = "def f(x):\n    return x * 2\n"
WRONG_TEST = ("assert f(21) == 42", "assert f(@TOKEN@) == @TOKEN@ * 3")
FS = ("filesystem", "landlock")


_IPC_CREAT, _IPC_NOWAIT, _IPC_RMID, _GETVAL = 0o1000, 0o4000, 0, 12
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.shmat.restype = ctypes.c_void_p
_LIBC.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_LIBC.shmdt.argtypes = [ctypes.c_void_p]


@dataclass
class IpcHost:
    """Host-side IPC endpoints a program might use to reach a local service, each open to every
    uid, with a record of what reached them; ``traffic`` must stay empty. Made per test run (random
    keys and names) and removed by ``close``."""

    dir: Path
    secret: str = field(default_factory=lambda: f"ipc-secret-{os.urandom(8).hex()}")
    tag: str = field(default_factory=lambda: os.urandom(4).hex())
    keys: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    sockets: list[socket.socket] = field(default_factory=list)
    seen: dict[str, list[bytes]] = field(default_factory=dict)
    fifo_fd: int = -1
    shm_addr: int = 0
    mq_fd: int = -1

    @classmethod
    def open(cls) -> IpcHost:
        """In a directory of its own (traversable by every uid), apart from the canary's."""
        ipc = cls(Path(tempfile.mkdtemp(prefix="progsynth-hostile-ipc-")))
        ipc.dir.chmod(0o755)
        ipc._sockets()
        os.mkfifo(ipc.path("fifo"), 0o666)
        os.chmod(ipc.path("fifo"), 0o666)
        ipc.fifo_fd = os.open(ipc.path("fifo"), os.O_RDONLY | os.O_NONBLOCK)
        ipc._sysv()
        old_umask = os.umask(0)  # the queue's mode must really be 0666
        try:
            ipc.mq_fd = _LIBC.mq_open(ipc.mq_name.encode(), os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK, 0o666, None)
        finally:
            os.umask(old_umask)
        Path(ipc.shm_file).write_text(ipc.secret)
        os.chmod(ipc.shm_file, 0o644)
        return ipc

    def path(self, name: str) -> str:
        return str(self.dir / f"ipc-{self.tag}-{name}")

    @property
    def mq_name(self) -> str:
        return f"/progsynth-hostile-{self.tag}"

    @property
    def shm_file(self) -> str:
        return f"/dev/shm/progsynth-hostile-{self.tag}"

    def _serve(self, name: str, sock: socket.socket, stream: bool) -> None:
        self.sockets.append(sock)
        self.seen[name] = []

        def loop() -> None:
            while True:
                try:
                    if stream:
                        conn, _ = sock.accept()
                        self.seen[name].append(conn.recv(100) or b"<connect>")
                        conn.close()
                    else:
                        self.seen[name].append(sock.recv(100))
                except OSError:
                    return

        threading.Thread(target=loop, daemon=True).start()

    def _sockets(self) -> None:
        for name, kind in (("unix", socket.SOCK_STREAM), ("dgram", socket.SOCK_DGRAM)):
            sock = socket.socket(socket.AF_UNIX, kind)
            sock.bind(self.path(name))
            os.chmod(self.path(name), 0o777)
            if kind == socket.SOCK_STREAM:
                sock.listen()
            self._serve(name, sock, kind == socket.SOCK_STREAM)
        abstract = socket.socket(socket.AF_UNIX)
        abstract.bind(f"\0progsynth-hostile-{self.tag}")
        abstract.listen()
        self._serve("abstract", abstract, True)

    def _sysv(self) -> None:
        base = int(self.tag, 16) % 0x3FFFFFFF + 1
        self.keys = {"shm": base, "msg": base + 1, "sem": base + 2}
        self.ids = {"shm": _LIBC.shmget(base, 4096, 0o666 | _IPC_CREAT), "msg": _LIBC.msgget(base + 1, 0o666 | _IPC_CREAT),
                    "sem": _LIBC.semget(base + 2, 1, 0o666 | _IPC_CREAT)}
        assert min(self.ids.values()) >= 0, f"cannot create SysV objects: errno {ctypes.get_errno()}"
        self.shm_addr = _LIBC.shmat(self.ids["shm"], None, 0)
        ctypes.memmove(self.shm_addr, b"host", 4)

    def fill(self, text: str) -> str:
        for key, value in {"@UNIXSOCK@": self.path("unix"), "@UNIXDGRAM@": self.path("dgram"),
                           "@ABSTRACT@": f"progsynth-hostile-{self.tag}", "@FIFO@": self.path("fifo"),
                           "@SHMKEY@": str(self.keys["shm"]), "@MSGKEY@": str(self.keys["msg"]),
                           "@SEMKEY@": str(self.keys["sem"]), "@MQNAME@": self.mq_name,
                           "@SHMFILE@": self.shm_file}.items():
            text = text.replace(key, value)
        return text

    def traffic(self) -> dict[str, object]:
        """What reached each host object (only the objects something reached)."""
        seen: dict[str, object] = {name: hits for name, hits in self.seen.items() if hits}
        try:
            if data := os.read(self.fifo_fd, 100):
                seen["fifo"] = data
        except BlockingIOError:
            pass
        if ctypes.string_at(self.shm_addr, 4) != b"host":
            seen["shm"] = ctypes.string_at(self.shm_addr, 4)
        buf = ctypes.create_string_buffer(1 << 16)  # mq_receive wants room for the queue's largest message
        if _LIBC.msgrcv(self.ids["msg"], buf, 100, 0, _IPC_NOWAIT) >= 0:
            seen["msg"] = buf.raw[8:16]
        if _LIBC.semctl(self.ids["sem"], 0, _GETVAL) != 0:
            seen["sem"] = _LIBC.semctl(self.ids["sem"], 0, _GETVAL)
        if self.mq_fd >= 0 and _LIBC.mq_receive(self.mq_fd, buf, 1 << 16, None) >= 0:
            seen["mq"] = buf.value
        return seen

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        os.close(self.fifo_fd)
        _LIBC.shmdt(ctypes.c_void_p(self.shm_addr))
        _LIBC.shmctl(self.ids["shm"], _IPC_RMID, None)
        _LIBC.msgctl(self.ids["msg"], _IPC_RMID, None)
        _LIBC.semctl(self.ids["sem"], 0, _IPC_RMID)
        if self.mq_fd >= 0:
            _LIBC.mq_unlink(self.mq_name.encode())
        Path(self.shm_file).unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)
