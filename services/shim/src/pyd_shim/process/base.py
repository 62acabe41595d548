"""What init and exec processes share: pid, stdio, exit status and waiting for it."""

from __future__ import annotations

import threading
import time

from pyd_shim.process.io import ProcessIO


class Exit:
    __slots__ = ("at", "status")

    def __init__(self, status: int, at: float) -> None:
        self.status = status
        self.at = at  # seconds since the epoch


class Process:
    """A process the shim owns; `state` (a class per state) decides what is allowed."""

    kind = "process"

    def __init__(self, id: str, exec_id: str, io: ProcessIO) -> None:
        self.id = id
        self.exec_id = exec_id
        self.io = io
        self.pid = 0
        self.exit: Exit | None = None
        self._exited = threading.Event()
        self.lock = threading.RLock()

    @property
    def status(self) -> str:
        raise NotImplementedError

    def set_exited(self, status: int, at: float | None = None) -> None:
        """The reaper saw the process exit (or it never started and is now stopped)."""
        with self.lock:
            if self.exit is None:
                self.exit = Exit(status, at or time.time())
            self._on_exit()
            self.io.close()
        self._exited.set()

    def _on_exit(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> Exit | None:
        """Block until the process exited; its exit, or None on timeout."""
        self._exited.wait(timeout)
        return self.exit
