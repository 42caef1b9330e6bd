"""A seccomp-bpf denylist: kernel interfaces no test program needs and sandbox escapes favour
(ptrace, namespaces, mounts, keyrings, bpf, io_uring, raw sockets...). Assembled by hand so no
Python binding is needed; syscall numbers come from libseccomp when present, else a built-in table.

Host IPC is closed here because nothing else closes it where it matters: a unix socket reached by
path ignores namespaces, read-only mounts and (up to ABI 7) Landlock. So ``socket`` makes only
inet/inet6 sockets, and the only unix sockets are ``socketpair``'s connection-oriented pairs
(asyncio, multiprocessing.Pipe), which can reach nothing but each other (a datagram pair could
``sendto`` any path). SysV IPC and POSIX message queues, keyed host-wide where the worker has no
IPC namespace of its own, are refused outright: no test program uses them.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from progsynth.execution.sandbox import libc

IPC_DENIED = (
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semtimedop", "semctl", "msgget", "msgsnd",
    "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
    "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "unshare", "setns", "keyctl", "add_key",
    "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "syslog",
    "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "pidfd_getfd",
    "kcmp", "process_madvise", "ioperm", "iopl", "lookup_dcookie", "fanotify_init", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
) + IPC_DENIED
_SPECIAL = ("clone", "clone3", "socket", "socketpair")

_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166,
    "pivot_root": 155, "chroot": 161, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303, "acct": 163,
    "quotactl": 179, "syslog": 103, "mount_setattr": 442, "move_mount": 429, "open_tree": 428,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438, "kcmp": 312,
    "process_madvise": 440, "ioperm": 173, "iopl": 172, "lookup_dcookie": 212, "fanotify_init": 300,
    "vhangup": 153, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "clone": 56, "clone3": 435, "socket": 41, "socketpair": 53,
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65, "semtimedop": 220,
    "semctl": 66, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "mq_open": 240, "mq_unlink": 241,
    "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

_LD_ABS_W = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_AND = 0x54
_RET = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_OFF_NR, _OFF_ARCH, _OFF_ARG0, _OFF_ARG1 = 0, 4, 16, 24
AF_UNIX = 1
_ALLOWED_FAMILIES = (2, 10)  # AF_INET, AF_INET6 (in a namespace with no interface up)
_PAIR_TYPES = (1, 5)  # SOCK_STREAM, SOCK_SEQPACKET: connected for good, no address to send to
_SOCK_TYPE_MASK = 0xF  # the rest of the type argument is SOCK_CLOEXEC / SOCK_NONBLOCK


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libseccomp_numbers(names: Sequence[str]) -> dict[str, int] | None:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        return None
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    numbers = {n: int(lib.seccomp_syscall_resolve_name(n.encode())) for n in names}
    return {n: nr for n, nr in numbers.items() if nr >= 0}


def syscall_numbers() -> dict[str, int]:
    """Native numbers for every syscall the filter mentions (unknown ones are left out)."""
    names = DENIED + _SPECIAL
    numbers = _libseccomp_numbers(names)
    if numbers is None and libc.machine() == "x86_64":
        numbers = dict(_X86_64)
    return numbers or {}


class _Assembler:
    """Classic BPF with symbolic jump labels (conditional jumps are forward and < 256 apart)."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def allow_only(self, values: tuple[int, ...], refusal: int) -> None:
        """Jump to "allow" if the accumulator is one of ``values``, else fail with errno ``refusal``."""
        for value in values:
            self.op(_JEQ, value, "allow", 0)
        self.op(_RET, _RET_ERRNO | refusal)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.code):
            offsets = [self.labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)]
            if not all(0 <= o < 256 for o in offsets):
                raise ValueError(f"seccomp jump out of range at instruction {i}")
            out += struct.pack("<HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF)
        return bytes(out)


def build_filter(numbers: dict[str, int], arch: int, machine: str) -> bytes:
    """The filter program: wrong arch -> kill; denied -> EPERM; clone3 -> ENOSYS (libc falls back to
    clone); clone with namespace flags -> EPERM; sockets other than inet/inet6 -> EAFNOSUPPORT;
    socketpair other than a unix stream/seqpacket pair -> EPERM."""
    asm = _Assembler()
    asm.op(_LD_ABS_W, _OFF_ARCH)
    asm.op(_JEQ, arch, "nr", "kill")
    asm.label("kill")
    asm.op(_RET, _RET_KILL_PROCESS)
    asm.label("nr")
    asm.op(_LD_ABS_W, _OFF_NR)
    if machine == "x86_64":
        asm.op(_JGE, _X32_BIT, "eperm", 0)
    for name in DENIED:
        if name in numbers:
            asm.op(_JEQ, numbers[name], "eperm", 0)
    for name, target in (("clone3", "enosys"), ("clone", "clone"), ("socket", "socket"),
                         ("socketpair", "socketpair")):
        if name in numbers:
            asm.op(_JEQ, numbers[name], target, 0)
    asm.op(_RET, _RET_ALLOW)
    asm.label("clone")
    asm.op(_LD_ABS_W, _OFF_ARG0)
    asm.op(_JSET, libc.NAMESPACE_FLAGS, "eperm", "allow")
    asm.label("socket")
    asm.op(_LD_ABS_W, _OFF_ARG0)
    asm.allow_only(_ALLOWED_FAMILIES, errno.EAFNOSUPPORT)
    asm.label("socketpair")
    asm.op(_LD_ABS_W, _OFF_ARG0)
    asm.op(_JEQ, AF_UNIX, 0, "eperm")
    asm.op(_LD_ABS_W, _OFF_ARG1)
    asm.op(_AND, _SOCK_TYPE_MASK)
    asm.allow_only(_PAIR_TYPES, errno.EPERM)
    asm.label("allow")
    asm.op(_RET, _RET_ALLOW)
    asm.label("eperm")
    asm.op(_RET, _RET_ERRNO | errno.EPERM)
    asm.label("enosys")
    asm.op(_RET, _RET_ERRNO | errno.ENOSYS)
    return asm.assemble()


@dataclass(frozen=True)
class SeccompFilter:
    """An assembled filter program (8 bytes per BPF instruction)."""

    program: bytes

    @property
    def instructions(self) -> int:
        return len(self.program) // 8


def prepare() -> SeccompFilter | None:
    """The filter for this machine, or None where the architecture or numbers are unknown."""
    machine = libc.machine()
    arch = _AUDIT_ARCH.get(machine)
    numbers = syscall_numbers()
    if arch is None or not all(n in numbers for n in _SPECIAL):
        return None
    return SeccompFilter(build_filter(numbers, arch, machine))


class Installer:
    """The filter laid out in memory once (in the worker), so each child installs it with a single
    prctl and touches as little memory as possible right after fork."""

    def __init__(self, flt: SeccompFilter) -> None:
        self._buf = ctypes.create_string_buffer(flt.program, len(flt.program))
        self._prog = _SockFprog(flt.instructions, ctypes.cast(self._buf, ctypes.c_void_p))
        self._addr = ctypes.addressof(self._prog)

    def install(self) -> None:
        """Load the filter into the calling process (after PR_SET_NO_NEW_PRIVS); lasts for good."""
        libc.prctl(libc.PR_SET_SECCOMP, libc.SECCOMP_MODE_FILTER, self._addr)
