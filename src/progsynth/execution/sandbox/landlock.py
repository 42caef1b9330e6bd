"""Landlock (Linux 5.13+): an unprivileged, path-based allowlist the program cannot undo.

The ruleset is built once per worker and applied in each child with one syscall. Depending on the
kernel's ABI version it also denies TCP bind/connect (ABI 4) and scopes signals and abstract unix
sockets to the program's own domain (ABI 6), so it cannot signal the worker, the pool or the caller.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass

from progsynth.execution.sandbox import libc

_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REFER = 1 << 13
FS_TRUNCATE = 1 << 14
_FS_ABI1 = (1 << 13) - 1  # EXECUTE ... MAKE_SYM
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

READ_ACCESS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is missing or disabled."""
    try:
        return libc.syscall(libc.SYS_LANDLOCK_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled_fs(abi: int) -> int:
    access = _FS_ABI1
    if abi >= 2:
        access |= FS_REFER
    if abi >= 3:
        access |= FS_TRUNCATE
    return access


@dataclass(frozen=True)
class LandlockPolicy:
    """What the program may touch: read-only trees, fully writable trees, and read-write files."""

    read_dirs: tuple[str, ...]
    write_dirs: tuple[str, ...]
    rw_files: tuple[str, ...] = ("/dev/null", "/dev/zero", "/dev/full")
    ro_files: tuple[str, ...] = ("/dev/urandom", "/dev/random")


def _add_rule(ruleset_fd: int, path: str, access: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        rule = _PathBeneathAttr(access, fd)
        libc.syscall(libc.SYS_LANDLOCK_ADD_RULE, ruleset_fd, _RULE_PATH_BENEATH,
                     ctypes.cast(ctypes.byref(rule), ctypes.c_void_p), 0)
        return True
    finally:
        os.close(fd)


def _existing(paths: Iterable[str]) -> list[str]:
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


def build_ruleset(policy: LandlockPolicy, abi: int) -> int:
    """A ruleset fd (close-on-exec) ready for ``restrict_self``; raises OSError when refused."""
    fs = handled_fs(abi)
    attr = _RulesetAttr(fs, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset_fd = libc.syscall(libc.SYS_LANDLOCK_CREATE_RULESET,
                              ctypes.cast(ctypes.byref(attr), ctypes.c_void_p), size, 0)
    os.set_inheritable(ruleset_fd, False)
    file_rw = FS_READ_FILE | FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0)
    for path in _existing(policy.read_dirs):
        _add_rule(ruleset_fd, path, READ_ACCESS & fs if os.path.isdir(path) else FS_READ_FILE | FS_EXECUTE)
    for path in _existing(policy.write_dirs):
        _add_rule(ruleset_fd, path, fs)
    for path in _existing(policy.rw_files):
        _add_rule(ruleset_fd, path, file_rw)
    for path in _existing(policy.ro_files):
        _add_rule(ruleset_fd, path, FS_READ_FILE)
    return ruleset_fd


def restrict_self(ruleset_fd: int) -> None:
    """Enter the ruleset's domain for good (needs no_new_privs, which the child sets first)."""
    libc.syscall(libc.SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0)


def describe(abi: int) -> str:
    parts = ["filesystem allowlist"]
    if abi >= 4:
        parts.append("no TCP bind/connect")
    if abi >= 6:
        parts.append("signals and abstract sockets scoped")
    return f"Landlock ABI {abi}: " + ", ".join(parts)
