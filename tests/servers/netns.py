"""A loopback-only network namespace for tests and perf scripts that start Ray.

Ray binds the machine's external interface and ignores ``--node-ip-address=127.0.0.1``; in a
network namespace whose only interface is loopback it falls back to 127.0.0.1, so nothing it opens
is reachable from outside. ``prefix()`` is the command that puts a child in a new namespace
(``unshare --net``, util-linux, as root; else with ``--map-root-user``); the child calls
``loopback_up()`` first (an ioctl, so iproute2 need not be installed) and ``check_isolated()``
before starting anything.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def prefix() -> list[str] | None:
    """The command prefix that runs a child in its own network namespace, or None if impossible."""
    if shutil.which("unshare") is None:
        return None
    for candidate in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        if subprocess.run([*candidate, "true"], capture_output=True, timeout=30).returncode == 0:
            return candidate
    return None


def ray_cluster_prefix() -> list[str]:
    """The command prefix a test's Ray cluster runs under; the test is skipped, saying why, only
    where no namespace can be made (a cluster must never bind the machine's own interfaces)."""
    import pytest

    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'progsynth[ray]')")
    found = prefix()
    if found is None:
        pytest.skip("cannot create a network namespace here (unshare --net failed, as root and with "
                    "--map-root-user): a Ray cluster must not bind the machine's interfaces, so it is not started")
    return found


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def check_isolated(outer_netns: str) -> None:
    """Refuse to go on unless this process is in a namespace other than ``outer_netns`` and that
    namespace has no interface but loopback."""
    mine = os.readlink("/proc/self/ns/net")
    names = sorted(name for _, name in socket.if_nameindex())
    if mine == outer_netns or names != ["lo"]:
        raise SystemExit(f"not in a loopback-only network namespace ({mine}, interfaces {names}): Ray not started")
