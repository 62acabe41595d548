"""A process exec'd into the running container (containerd's exec_state.go).

    created ──start──▶ running ──(exit)──▶ stopped ──delete──▶ deleted
       └──────────────────delete────────────────────────────────┘
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyd_proto.errdefs import FailedPrecondition, NotFound
from pyd_shim.process.base import Process
from pyd_shim.process.io import ProcessIO
from pyd_shim.runc import Runtime, read_pid_file


class Exec(Process):
    kind = "exec"

    def __init__(self, id: str, exec_id: str, bundle: str, runtime: Runtime, io: ProcessIO,
                 spec: dict[str, Any]) -> None:
        super().__init__(id, exec_id, io)
        self.bundle = bundle
        self.runtime = runtime
        self.spec = spec
        self._status = "created"

    @property
    def status(self) -> str:
        return self._status

    def start(self) -> None:
        with self.lock:
            if self._status != "created":
                raise FailedPrecondition(f"cannot start a {self._status} exec process")
            workdir = os.path.join(self.bundle, f"exec-{self.exec_id}")
            os.makedirs(workdir, mode=0o700, exist_ok=True)
            process_path = os.path.join(workdir, "process.json")
            pid_file = os.path.join(workdir, "pid")
            with open(process_path, "w") as f:
                json.dump(self.spec, f)
            console = self.io.console_socket() if self.io.terminal else ""
            stdio = self.io.runtime_stdio()
            try:
                self.runtime.exec(self.id, process_path, pid_file=pid_file,
                                  console_socket=console, stdio=stdio)
                self.io.started()
                self.pid = read_pid_file(pid_file)
            except BaseException:
                self.io.close()
                self._status = "stopped"
                raise
            finally:
                for p in (process_path, pid_file):
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
                os.rmdir(workdir)
            self._status = "running"

    def _on_exit(self) -> None:
        if self._status != "deleted":
            self._status = "stopped"

    def kill(self, signal: int) -> None:
        with self.lock:
            if self._status != "running" or not self.pid:
                raise NotFound(f"exec {self.exec_id}: process not running")
            try:
                os.kill(self.pid, signal)
            except ProcessLookupError as e:
                raise NotFound(f"exec {self.exec_id}: process already finished") from e

    def delete(self) -> None:
        with self.lock:
            if self._status == "running":
                raise FailedPrecondition(f"cannot delete a running exec process {self.exec_id}")
            if self._status == "deleted":
                raise NotFound(f"exec {self.exec_id}: already deleted")
            self._status = "deleted"
            self.io.close()
