"""Programs that abuse CPU, memory, processes, output, disk and file descriptors."""

from __future__ import annotations

from hostile.base import Category, E, K, P, T, case

RESOURCES = [
    case("fork_bomb", Category.RESOURCE, """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""", ("assert True",), frozenset({T, K}), ("cgroups",)),
    # bytes(n) is calloc'd: address space is taken at once, pages only when touched, so the memory
    # limit is reached in microseconds of CPU, on any machine, however loaded: always out of memory
    case("memory_bomb", Category.RESOURCE, """
blocks = []
while True:
    blocks.append(bytes(50 * 1024 * 1024))
""", ("assert True",), frozenset({E, K}), ("rlimits",), ("MemoryError", "MemoryLimit", "Signal")),
    # bytearray(n) writes every page: filling 512 MB costs most of a second of CPU here (more under
    # load), so the CPU limit may honestly come first; what matters is that it never passes
    case("memory_bomb_touched", Category.RESOURCE, """
blocks = []
while True:
    blocks.append(bytearray(50 * 1024 * 1024))
""", ("assert True",), frozenset({E, K, T}), ("rlimits",), ("MemoryError", "MemoryLimit", "Signal")),
    case("memory_bomb_in_children", Category.RESOURCE, """
import os, time
for _ in range(6):
    if os.fork() == 0:
        try:
            print("PID", os.getpid(), flush=True)
            b = bytearray(300 * 1024 * 1024)
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(60)
        finally:
            os._exit(0)
time.sleep(60)
""", ("assert True",), frozenset({T, K}), ("cgroups",), spawns=True),
    case("output_flood", Category.RESOURCE, """
while True:
    print("flood " * 100)
""", ("assert True",), T),
    case("stderr_flood_raw_fd", Category.RESOURCE, """
import os
while True:
    os.write(2, b"x" * 65536)
""", ("assert True",), T),
    case("sigterm_ignoring_loop", Category.RESOURCE, """
import signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
    signal.signal(s, signal.SIG_IGN)
while True:
    pass
""", ("assert True",), T),
    case("sleeper", Category.RESOURCE, """
import time
time.sleep(1000)
""", ("assert True",), T),
    # the pipe, not a sleep, makes the program wait until its daemon has reported its pid: on a busy
    # machine a sleeping parent could end (and its tree be killed) before the daemon ever ran
    case("daemon_outlives_run", Category.RESOURCE, """
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            print("PID", os.getpid(), flush=True)
            os.write(w, b"x")
            time.sleep(300)
    finally:
        os._exit(0)
os.read(r, 1)
""", ("assert True",), P, spawns=True),
    case("busy_children_left_behind", Category.RESOURCE, """
import os
for _ in range(3):
    if os.fork() == 0:
        print("PID", os.getpid(), flush=True)
        while True:
            pass
""", ("assert True",), P, spawns=True),
    case("spinning_thread", Category.RESOURCE, """
import threading
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
def f(x):
    return x * 2
""", ("assert f(2) == 4",), P),
    case("fill_disk", Category.RESOURCE, """
with open("big", "wb") as out:
    while True:
        out.write(b"x" * (1 << 20))
""", ("assert True",), E, ("rlimits",), ("OSError",)),
    case("many_files", Category.RESOURCE, """
for i in range(100000):
    open(f"f{i}", "w").close()
""", ("assert True",), frozenset({E, P}), (), ("OSError",)),
    case("open_files_exhausted", Category.RESOURCE, """
handles = [open("/dev/null") for _ in range(100000)]
""", ("assert True",), E, ("rlimits",), ("OSError",)),
    case("infinite_recursion", Category.RESOURCE, """
def r(n):
    return r(n + 1)
r(0)
""", ("assert True",), E, (), ("RecursionError",)),
]
