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
import signal
import socket
import struct
import subprocess
from pathlib import Path

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


def namespace_pids(ns: str, word: str = "") -> list[int]:
    """Processes in network namespace ``ns`` (a test's own: only what it started), optionally those
    whose command line contains ``word``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "ns" / "net") != ns:
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if word in cmdline:
            pids.append(int(entry.name))
    return pids


def stop_ray(ray_bin: Path, ns: str, temp: Path) -> None:
    """Every Ray process of namespace ``ns`` gone, whatever state the test left it in: ``ray stop
    --force``, then SIGKILL for anything left, then the cluster's temp folder."""
    subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, timeout=120)
    for pid in namespace_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(temp, ignore_errors=True)
