"""The shim's reaper: it is the container's subreaper and the only caller of wait().

Every child exit (the runtime CLI's own runs, the container's init and exec
processes reparented to the shim) is collected by one thread. Commands the
shim runs wait for their pid here (go-runc's Monitor); container processes
are reported to `on_exit` subscribers. An exit that arrives before anyone
asked for its pid is kept for a while, so a fast-exiting init is not lost.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from pyd_shim.log import get_logger

log = get_logger("pyd.shim.reaper")

PR_SET_CHILD_SUBREAPER = 36
_KEEP_SECONDS = 300.0


def set_child_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphans below the shim are reparented to it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def exit_code(status: int) -> int:
    """A wait status as containerd reports it: the exit code, or 128 + signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 255


Subscriber = Callable[[int, int, float], None]


class Reaper:
    """Collects every child's exit; see the module docstring."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._exits: dict[int, tuple[int, float]] = {}
        self._subscribers: list[Subscriber] = []
        self._children = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the reaping thread; SIGCHLD only wakes it (handlers run in the main thread)."""
        signal.signal(signal.SIGCHLD, lambda *_: self._children.set())
        self._thread = threading.Thread(target=self._loop, daemon=True, name="reaper")
        self._thread.start()

    def subscribe(self, fn: Subscriber) -> None:
        """`fn(pid, exit_code, exited_at)` for every exit, in the reaper thread."""
        self._subscribers.append(fn)

    def _loop(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                self._children.wait(1.0)
                self._children.clear()
                continue
            except InterruptedError:
                continue
            self.record(pid, exit_code(status), time.time())

    def record(self, pid: int, code: int, when: float) -> None:
        """Store an exit and tell subscribers (the reaping thread calls this)."""
        with self._cond:
            cutoff = when - _KEEP_SECONDS
            for old in [p for p, (_, t) in self._exits.items() if t < cutoff]:
                del self._exits[old]
            self._exits[pid] = (code, when)
            self._cond.notify_all()
        for fn in self._subscribers:
            try:
                fn(pid, code, when)
            except Exception:
                log.exception("exit subscriber failed", extra={"pid": pid})

    def exited(self, pid: int) -> tuple[int, float] | None:
        """The recorded exit of `pid`, if it already happened."""
        with self._cond:
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: float | None = None) -> int:
        """Block until `pid` exits; its exit code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while pid not in self._exits:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"pid {pid} still running")
                self._cond.wait(left if left is not None else 1.0)
            return self._exits.pop(pid)[0]

    def run(self, argv: Sequence[str], *, stdin: Any = subprocess.DEVNULL,
            stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL,
            pass_fds: Sequence[int] = (), cwd: str | None = None,
            timeout: float | None = None) -> int:
        """Run a command to completion through the reaper; its exit code."""
        proc = self.spawn(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                          pass_fds=pass_fds, cwd=cwd)
        try:
            code = self.wait(proc.pid, timeout)
        except TimeoutError:
            proc.kill()
            code = self.wait(proc.pid)
        proc.returncode = code  # Popen must not wait() for it again
        return code

    def spawn(self, argv: Sequence[str], *, stdin: Any = subprocess.DEVNULL,
              stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL,
              pass_fds: Sequence[int] = (), cwd: str | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(list(argv), stdin=stdin, stdout=stdout, stderr=stderr,
                                pass_fds=tuple(pass_fds), cwd=cwd, close_fds=True)
        self._children.set()
        return proc


def read_all(f: IO[bytes]) -> bytes:
    f.seek(0)
    return f.read()
