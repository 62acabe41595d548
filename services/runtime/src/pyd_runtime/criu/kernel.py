"""The few system calls the CRIU glue makes itself: mounts, processes, signals, fds.

Kept apart from container.py, which decides what CRIU is told.  Like the rest of
pyd-runc's start path, this avoids ``subprocess``, ``signal`` and ``socket``
(each pulls in ``enum`` and friends): a restore pays for every import.
"""

from __future__ import annotations

import ctypes
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 2
SIGKILL = 9

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    # the process's own symbols include libc's; find_library would run ldconfig
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def mount(source: str, target: str, flags: int) -> None:
    """mount(2) without a file system type or data (bind mounts)."""
    if _c().mount(source.encode(), target.encode(), None, flags, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target}: {os.strerror(e)}")


def umount(target: str) -> None:
    """umount2(2) with MNT_DETACH; errors are ignored (cleanup paths)."""
    _c().umount2(target.encode(), MNT_DETACH)


def spawn(argv: Sequence[str], *, pass_fds: Sequence[int] = (),
          stdio: tuple[int | None, int | None, int | None] = (None, None, None),
          devnull_stdio: bool = False, setsid: bool = False) -> int:
    """posix_spawnp `argv`; returns the pid.

    `pass_fds` keep their numbers in the child (made inheritable just for the
    spawn); `stdio` entries replace fds 0-2 (None: inherit ours), or all three
    become /dev/null with `devnull_stdio`.
    """
    actions: list[tuple[int, ...]] = []
    null = -1
    if devnull_stdio:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stdio = (null, null, null)
    for target, fd in enumerate(stdio):
        if fd is not None and fd != target:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    # like subprocess's close_fds: an fd we inherited (say from a shim) is not CRIU's
    keep = {0, 1, 2, *pass_fds}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep and _inheritable(fd):
            actions.append((os.POSIX_SPAWN_CLOSE, fd))
    changed = [fd for fd in pass_fds if not os.get_inheritable(fd)]
    try:
        for fd in changed:
            os.set_inheritable(fd, True)
        return os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions,
                               setsid=setsid)
    finally:
        for fd in changed:
            os.set_inheritable(fd, False)
        if null >= 0:
            os.close(null)


def _inheritable(fd: int) -> bool:
    """Open and without close-on-exec (only those reach the child)."""
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False  # e.g. the directory fd listdir used, closed by now


def wait(pid: int, timeout: float | None = None) -> int | None:
    """Reap child `pid`: its exit code (-N for signal N), or None on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.0005
    while True:
        flags = 0 if deadline is None else os.WNOHANG
        try:
            done, status = os.waitpid(pid, flags)
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def kill(pid: int, sig: int = SIGKILL) -> None:
    """kill(2), ignoring a process that is already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_and_reap(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL `pid` and reap it if it is our child (CRIU restores as our child)."""
    kill(pid)
    wait(pid, timeout)


def start_time(pid: int) -> int:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), or 0."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0
    return int(data[data.rindex(b")") + 2:].split()[19])


def send_console(path: str, fd: int) -> None:
    """Send a terminal master to --console-socket (runc's utils.SendFd)."""
    import socket  # only with a terminal: not worth its import on every restore

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        socket.send_fds(s, [b"/dev/ptmx"], [fd])
