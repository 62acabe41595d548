"""The container's init process and its state machine (containerd's init_state.go).

Each state is a class; a method a state does not allow raises
FailedPrecondition with the reason, so the rules live in one place:

    created ──start──▶ running ◀──resume── paused
       │                 │  └────pause──────▶ │
       │              (exit)                (exit)
       ▼                 ▼                    │
    deleted ◀─delete── stopped ◀──────────────┘

`created_checkpoint` is `created` whose start restores from a checkpoint image
(with `lazy_restore`, its pages come from that address on first touch).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from pyd_proto.errdefs import FailedPrecondition, NotFound
from pyd_shim.log import get_logger
from pyd_shim.process.base import Process
from pyd_shim.process.io import ProcessIO
from pyd_shim.runc import Runtime, read_pid_file

log = get_logger("pyd.shim.init")


class CheckpointOptions:
    def __init__(self, image_path: str, leave_running: bool = False, lazy: bool = False,
                 page_server: str = "", work_path: str = "") -> None:
        self.image_path = image_path
        self.leave_running = leave_running
        self.lazy = lazy
        self.page_server = page_server
        self.work_path = work_path


class State:
    """Base state: everything refused; subclasses allow their transitions."""

    name = "unknown"

    def _refuse(self, what: str) -> FailedPrecondition:
        return FailedPrecondition(f"cannot {what} a {self.name} process")

    def start(self, p: Init) -> None:
        raise self._refuse("start")

    def delete(self, p: Init) -> None:
        raise self._refuse("delete")

    def pause(self, p: Init) -> None:
        raise self._refuse("pause")

    def resume(self, p: Init) -> None:
        raise self._refuse("resume")

    def kill(self, p: Init, signal: int, all: bool) -> None:
        raise self._refuse("kill")

    def checkpoint(self, p: Init, opts: CheckpointOptions) -> None:
        raise self._refuse("checkpoint")

    def update(self, p: Init, resources: dict[str, Any]) -> None:
        raise self._refuse("update")

    def exec(self, p: Init) -> None:
        raise self._refuse("exec in")

    def set_exited(self, p: Init) -> None:
        p.state = Stopped()


class Created(State):
    name = "created"

    def start(self, p: Init) -> None:
        p.runtime.start(p.id)
        p.state = Running()

    def delete(self, p: Init) -> None:
        p.destroy()
        p.state = Deleted()

    def kill(self, p: Init, signal: int, all: bool) -> None:
        p.runtime.kill(p.id, signal, all=all)

    def update(self, p: Init, resources: dict[str, Any]) -> None:
        p.runtime.update(p.id, resources)

    def exec(self, p: Init) -> None:
        pass


class CreatedCheckpoint(Created):
    """Created from a checkpoint: start runs the runtime's restore."""

    name = "created"

    def start(self, p: Init) -> None:
        p.restore()
        p.state = Running()

    def delete(self, p: Init) -> None:
        p.destroy(created=False)
        p.state = Deleted()

    def kill(self, p: Init, signal: int, all: bool) -> None:
        raise FailedPrecondition("cannot kill a process that is not restored yet")

    def exec(self, p: Init) -> None:
        raise self._refuse("exec in")


class Running(State):
    name = "running"

    def pause(self, p: Init) -> None:
        p.runtime.pause(p.id)
        p.state = Paused()

    def kill(self, p: Init, signal: int, all: bool) -> None:
        p.runtime.kill(p.id, signal, all=all)

    def checkpoint(self, p: Init, opts: CheckpointOptions) -> None:
        p.runtime.checkpoint(p.id, image_path=opts.image_path, work_path=opts.work_path,
                             leave_running=opts.leave_running, lazy=opts.lazy,
                             page_server=opts.page_server)

    def update(self, p: Init, resources: dict[str, Any]) -> None:
        p.runtime.update(p.id, resources)

    def exec(self, p: Init) -> None:
        pass


class Paused(State):
    name = "paused"

    def resume(self, p: Init) -> None:
        p.runtime.resume(p.id)
        p.state = Running()

    def kill(self, p: Init, signal: int, all: bool) -> None:
        p.runtime.kill(p.id, signal, all=all)

    def checkpoint(self, p: Init, opts: CheckpointOptions) -> None:
        p.runtime.checkpoint(p.id, image_path=opts.image_path, work_path=opts.work_path,
                             leave_running=opts.leave_running, lazy=opts.lazy,
                             page_server=opts.page_server)

    def update(self, p: Init, resources: dict[str, Any]) -> None:
        p.runtime.update(p.id, resources)

    def set_exited(self, p: Init) -> None:
        # A frozen cgroup's process can still be killed; thaw what is left behind.
        with contextlib.suppress(Exception):
            p.runtime.resume(p.id)
        p.state = Stopped()


class Stopped(State):
    name = "stopped"

    def delete(self, p: Init) -> None:
        p.destroy()
        p.state = Deleted()

    def kill(self, p: Init, signal: int, all: bool) -> None:
        raise NotFound("process already finished")

    def set_exited(self, p: Init) -> None:
        pass


class Deleted(State):
    name = "deleted"

    def delete(self, p: Init) -> None:
        raise NotFound(f"container {p.id}: already deleted")

    def kill(self, p: Init, signal: int, all: bool) -> None:
        raise NotFound("process already finished")

    def set_exited(self, p: Init) -> None:
        pass


class Init(Process):
    """The container's first process, created and started through the runtime."""

    kind = "init"

    def __init__(self, id: str, bundle: str, runtime: Runtime, io: ProcessIO, *,
                 checkpoint: str = "", lazy_restore: str = "",
                 lazy_restore_tls: tuple[str, str, str] | None = None) -> None:
        super().__init__(id, "", io)
        self.bundle = bundle
        self.runtime = runtime
        self.checkpoint_path = checkpoint
        self.lazy_restore = lazy_restore
        # (CA, certificate, key) for a TLS page server
        self.lazy_restore_tls = lazy_restore_tls
        self.state: State = CreatedCheckpoint() if checkpoint else Created()

    @property
    def status(self) -> str:
        return self.state.name

    @property
    def pid_file(self) -> str:
        return os.path.join(self.bundle, "init.pid")

    def create(self) -> None:
        """`runtime create` (or nothing yet, for a restore: that happens at start)."""
        if self.checkpoint_path:
            log.info("created from checkpoint", extra={
                "id": self.id, "checkpoint": self.checkpoint_path,
                "lazy_restore": self.lazy_restore})
            return
        console = self.io.console_socket() if self.io.terminal else ""
        stdio = self.io.runtime_stdio()
        try:
            self.runtime.create(self.id, self.bundle, pid_file=self.pid_file,
                                console_socket=console, stdio=stdio)
            self.io.started()
        except BaseException:
            self.io.close()
            raise
        self.pid = read_pid_file(self.pid_file)

    def restore(self) -> None:
        console = self.io.console_socket() if self.io.terminal else ""
        stdio = self.io.runtime_stdio()
        try:
            self.runtime.restore(self.id, self.bundle, image_path=self.checkpoint_path,
                                 pid_file=self.pid_file, console_socket=console,
                                 lazy_restore=self.lazy_restore,
                                 lazy_restore_tls=self.lazy_restore_tls,
                                 work_path=os.path.join(self.bundle, "criu-work"),
                                 stdio=stdio)
            self.io.started()
        except BaseException:
            self.io.close()
            raise
        self.pid = read_pid_file(self.pid_file)

    def destroy(self, created: bool = True) -> None:
        """`runtime delete --force` (the container may be gone already)."""
        if created:
            try:
                self.runtime.delete(self.id, force=True)
            except NotFound:
                pass
        self.io.close()

    # -- operations, each guarded by the state ------------------------------------------

    def start(self) -> None:
        with self.lock:
            self.state.start(self)

    def delete(self) -> None:
        with self.lock:
            self.state.delete(self)

    def pause(self) -> None:
        with self.lock:
            self.state.pause(self)

    def resume(self) -> None:
        with self.lock:
            self.state.resume(self)

    def kill(self, signal: int, all: bool = False) -> None:
        with self.lock:
            self.state.kill(self, signal, all)

    def checkpoint(self, opts: CheckpointOptions) -> None:
        with self.lock:
            self.state.checkpoint(self, opts)

    def update(self, resources: dict[str, Any]) -> None:
        with self.lock:
            self.state.update(self, resources)

    def can_exec(self) -> None:
        with self.lock:
            self.state.exec(self)

    def _on_exit(self) -> None:
        self.state.set_exited(self)


def load_spec(bundle: str) -> dict[str, Any]:
    with open(os.path.join(bundle, "config.json")) as f:
        spec = json.load(f)
    return spec if isinstance(spec, dict) else {}
