"""Programs that try to reach outside the sandbox: files, network, signals, privileges, host IPC."""

from __future__ import annotations

from hostile.base import FS, Category, E, P, case

IPC = ("ipc",)
_REFUSED = ("PermissionError", "OSError", "FileNotFoundError")
_CTYPES_PREAMBLE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def refused(what):
    raise PermissionError(ctypes.get_errno(), what + " refused")
"""

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
    # where /dev/shm is the worker's own (ipc), the write succeeds there; the host's stays untouched
    case("write_dev_shm", Category.ESCAPE, """
open("/dev/shm/progsynth-hostile", "w").write("x")
""", ("assert True",), frozenset({P, E}), FS, ("PermissionError", "OSError", "FileNotFoundError")),
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
] + [
    case("connect_unix_socket_path", Category.ESCAPE, """
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect("@UNIXSOCK@")
s.sendall(b"hello")
""", ("assert True",), E, IPC, ("OSError", "PermissionError")),
    case("unix_datagram_to_host_path", Category.ESCAPE, """
import socket
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"hello", "@UNIXDGRAM@")
""", ("assert True",), E, IPC, ("OSError", "PermissionError")),
    case("datagram_socketpair_to_host_path", Category.ESCAPE, """
import socket
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
a.sendto(b"hello", "@UNIXDGRAM@")
""", ("assert True",), E, IPC, ("PermissionError", "OSError")),
    case("connect_abstract_socket", Category.ESCAPE, """
import socket
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect("\\0@ABSTRACT@")
s.sendall(b"hello")
""", ("assert True",), E, IPC, ("OSError", "PermissionError", "ConnectionRefusedError")),
    case("write_host_fifo", Category.ESCAPE, """
import os
os.write(os.open("@FIFO@", os.O_WRONLY | os.O_NONBLOCK), b"hello")
""", ("assert True",), E, ("landlock",), ("PermissionError",)),
    case("sysv_shared_memory", Category.ESCAPE, _CTYPES_PREAMBLE + """
libc.shmat.restype = ctypes.c_void_p
shmid = libc.shmget(@SHMKEY@, 0, 0)
if shmid < 0:
    refused("shmget")
addr = libc.shmat(shmid, None, 0)
if addr is None or addr == ctypes.c_void_p(-1).value:
    refused("shmat")
ctypes.memmove(addr, b"pwnd", 4)
""", ("assert True",), E, IPC, ("PermissionError",)),
    case("sysv_message_queue", Category.ESCAPE, _CTYPES_PREAMBLE + """
qid = libc.msgget(@MSGKEY@, 0)
if qid < 0:
    refused("msgget")
if libc.msgsnd(qid, ctypes.create_string_buffer(b"\\1\\0\\0\\0\\0\\0\\0\\0pwned!!!", 16), 8, 0o4000) != 0:
    refused("msgsnd")
""", ("assert True",), E, IPC, ("PermissionError",)),
    case("sysv_semaphore", Category.ESCAPE, _CTYPES_PREAMBLE + """
semid = libc.semget(@SEMKEY@, 1, 0)
if semid < 0:
    refused("semget")
if libc.semop(semid, (ctypes.c_short * 3)(0, 1, 0), 1) != 0:
    refused("semop")
""", ("assert True",), E, IPC, ("PermissionError",)),
    case("posix_message_queue", Category.ESCAPE, _CTYPES_PREAMBLE + """
import os
fd = libc.mq_open(b"@MQNAME@", os.O_WRONLY | os.O_NONBLOCK)
if fd < 0:
    refused("mq_open")
if libc.mq_send(fd, b"pwned", 5, 0) != 0:
    refused("mq_send")
""", ("assert True",), E, IPC, ("PermissionError",)),
    case("read_host_dev_shm", Category.ESCAPE, """
print(open("@SHMFILE@").read())
""", ("assert True",), E, IPC, _REFUSED),
    case("steal_fds_via_proc", Category.ESCAPE, """
import os
parent = f"/proc/{os.getppid()}/fd"
print([open(f"{parent}/{fd}", "rb").read(100) for fd in os.listdir(parent)])
""", ("assert True",), E, ("uid",), _REFUSED),
    case("only_own_descriptors_inherited", Category.ESCAPE, """
import os
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
FDS = [fd for fd in range(1024) if is_open(fd)]
""", ("assert FDS == [0, 1, 2, 3]",), P),
    case("ipc_and_process_syscalls_refused", Category.ESCAPE, """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
PPID = os.getppid()
CALLS = {"ptrace": (101, 16, PPID, 0, 0), "process_vm_readv": (310, PPID, 0, 0, 0, 0, 0),
         "process_vm_writev": (311, PPID, 0, 0, 0, 0, 0), "pidfd_getfd": (438, -1, 0, 0),
         "kcmp": (312, PPID, os.getpid(), 0, 0, 0), "io_uring_setup": (425, 1, 0), "keyctl": (250, 0, -3, 0),
         "add_key": (248, 0, 0, 0, 0, 0), "request_key": (249, 0, 0, 0, 0), "shmget": (29, 1, 0, 0),
         "msgget": (68, 1, 0), "semget": (64, 1, 1, 0), "mq_open": (240, 0, 0, 0, 0), "setns": (308, -1, 0),
         "unshare": (272, 0x08000000), "bpf": (321, 0, 0, 0), "userfaultfd": (323, 0),
         "socket_unix": (41, 1, 1, 0), "socketpair_dgram": (53, 1, 2, 0, 0)}
OPEN = []
if os.uname().machine == "x86_64":
    for name, (nr, *args) in CALLS.items():
        if libc.syscall(nr, *map(ctypes.c_long, args)) != -1 or ctypes.get_errno() not in (errno.EPERM, errno.EAFNOSUPPORT):
            OPEN.append(name)
print(OPEN)
""", ("assert OPEN == []",), P, ("seccomp",)),
]
