"""Thin ctypes wrappers for the Linux calls the sandbox needs and Python 3.11's ``os`` lacks
(``unshare``, ``mount``, ``prctl``, raw ``syscall``). Every wrapper raises ``OSError`` with errno."""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
NAMESPACE_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                   | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_MODE_FILTER = 2

# syscalls added after the per-architecture tables were unified: same number everywhere
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4

_libc = ctypes.CDLL(None, use_errno=True)  # the running binary links libc: no find_library
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]


def _check(result: int) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def machine() -> str:
    return os.uname().machine


_pylibc = ctypes.PyDLL(None, use_errno=True)


def fork_raw() -> int:
    """fork(2) without Python's after-fork hooks (about 150 copy-on-write faults, ~0.6 ms here).
    Only for a single-threaded caller: the GIL stays held across the call (PyDLL), and with no
    other thread nothing Python's hooks reset can be in a locked or stale state."""
    return _check(_pylibc.fork())


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)))


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(os.fsencode(target), flags))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5))


def syscall(number: int, *args: int | ctypes.c_void_p | ctypes.c_char_p | None) -> int:
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return _check(_libc.syscall(ctypes.c_long(number), *converted))


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr_recursive(path: str, attr_set: int, attr_clr: int = 0) -> None:
    """mount_setattr(2) with AT_RECURSIVE: change flags of a whole mount tree in one call."""
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    syscall(SYS_MOUNT_SETATTR, AT_FDCWD, ctypes.c_char_p(os.fsencode(path)), AT_RECURSIVE,
            ctypes.cast(ctypes.byref(attr), ctypes.c_void_p), ctypes.sizeof(attr))
