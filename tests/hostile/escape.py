"""Programs that try to reach outside the sandbox: files, network, signals, privileges."""

from __future__ import annotations

from hostile.base import FS, Category, E, P, case

ESCAPES = [
    case("write_canary", Category.ESCAPE, """
open("@CANARY@", "w").write("pwned")
""", ("assert True",), E, FS, ("PermissionError", "OSError")),
    case("append_canary_via_symlink", Category.ESCAPE, """
import os
os.symlink("@CANARY@", "link")
open("link", "a").write("pwned")
""", ("assert True",), E, FS, ("PermissionError", "OSError")),
    case("delete_canary", Category.ESCAPE, """
import os
os.remove("@CANARY@")
""", ("assert True",), E, FS, ("PermissionError", "OSError")),
    case("chmod_canary", Category.ESCAPE, """
import os
os.chmod("@CANARY@", 0)
""", ("assert True",), E, FS, ("PermissionError", "OSError")),
    case("create_file_in_host_dir", Category.ESCAPE, """
open("@HOSTDIR@/dropped-by-program", "w").write("x")
""", ("assert True",), E, FS, ("PermissionError", "OSError")),
    case("write_dev_shm", Category.ESCAPE, """
open("/dev/shm/progsynth-hostile", "w").write("x")
""", ("assert True",), E, FS, ("PermissionError", "OSError", "FileNotFoundError")),
    case("read_env_secret", Category.ESCAPE, """
import os
LEAK = os.environ.get("@SECRET@")
print(LEAK, dict(os.environ))
""", ("assert LEAK is None",), P),
    case("read_caller_environ", Category.ESCAPE, """
data = open("/proc/@CALLER@/environ", "rb").read()
print(data)
""", ("assert True",), E, ("uid",), ("PermissionError", "FileNotFoundError", "OSError")),
    case("scan_all_environs", Category.ESCAPE, """
import os
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            found.append(open(f"/proc/{pid}/environ", "rb").read())
        except OSError:
            pass
print(found)
""", ("assert True",), P),
    case("read_benchmark_data", Category.ESCAPE, """
print(open("@DATAFILE@").read()[:5000])
""", ("assert True",), E, FS, ("PermissionError", "FileNotFoundError", "OSError")),
    case("read_shadow", Category.ESCAPE, """
print(open("/etc/shadow").read())
""", ("assert True",), E, ("uid",), ("PermissionError",)),
    case("connect_listener", Category.ESCAPE, """
import socket
socket.create_connection(("127.0.0.1", @PORT@), timeout=2).sendall(b"hello")
""", ("assert True",), E, ("network",)),
    case("udp_to_host", Category.ESCAPE, """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(20):
    try:
        s.sendto(b"leak", ("127.0.0.1", @UDP@))
    except OSError:
        pass
""", ("assert True",), P),
    case("kill_worker", Category.ESCAPE, """
import os, signal
os.kill(os.getppid(), signal.SIGKILL)
""", ("assert True",), E, ("uid",), ("PermissionError",)),
    case("signal_caller", Category.ESCAPE, """
import os, signal
os.kill(@CALLER@, signal.SIGUSR1)
""", ("assert True",), E, ("uid",), ("PermissionError", "ProcessLookupError")),
    case("kill_bystander", Category.ESCAPE, """
import os, signal
os.kill(@VICTIM@, signal.SIGKILL)
""", ("assert True",), E, ("uid",), ("PermissionError", "ProcessLookupError")),
    case("kill_everything", Category.ESCAPE, """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
""", ("assert True",), P, run_if_any=("uid", "landlock")),
    case("ptrace_worker", Category.ESCAPE, """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(16, os.getppid(), 0, 0) != 0:
    raise PermissionError(ctypes.get_errno(), "ptrace refused")
""", ("assert True",), E, ("uid",), ("PermissionError",)),
    case("become_root", Category.ESCAPE, """
import os
os.setuid(0)
""", ("assert True",), E, ("uid",), ("PermissionError",)),
    case("new_user_namespace", Category.ESCAPE, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x40000000) != 0:
    raise PermissionError(ctypes.get_errno(), "unshare refused")
""", ("assert True",), E, ("seccomp",), ("PermissionError",)),
    case("mount_tmpfs", Category.ESCAPE, """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"none", b".", b"tmpfs", 0, None) != 0:
    raise PermissionError(ctypes.get_errno(), "mount refused")
""", ("assert True",), E, ("uid",), ("PermissionError",)),
]
