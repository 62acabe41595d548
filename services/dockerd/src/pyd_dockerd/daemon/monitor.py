"""Follows containerd's task events and turns exits into container state (moby's
daemon/monitor.go): records the exit, frees the network, applies the restart policy
and --rm, and wakes whoever waits. After a dockerd or containerd restart it reconciles
what it may have missed (live restore)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING

from pyd_dockerd.container.state import Status
from pyd_proto import typeurl
from pyd_proto.containerd.events import task_pb2 as task_events
from pyd_proto.errdefs import NotFound, PydError

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.monitor")

RESTART_BACKOFF_START = 0.1
RESTART_BACKOFF_MAX = 60.0


class Monitor:
    def __init__(self, d: Daemon) -> None:
        self.d = d
        self._cond = threading.Condition()
        self._generation: dict[str, int] = {}   # bumps on every exit: for "next-exit"
        self._oom: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff: dict[str, float] = {}
        self._last_exit: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="task-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def watch(self, container_id: str) -> None:
        """Nothing to arm per container: every exit arrives through the one
        subscription. Kept so the start path says what it relies on."""
        self._backoff.setdefault(container_id, RESTART_BACKOFF_START)

    def forget(self, container_id: str) -> None:
        with self._cond:
            self._generation[container_id] = self._generation.get(container_id, 0) + 1
            self._backoff.pop(container_id, None)
            self._cond.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                stream = self.d.containerd.subscribe('topic~="/tasks/"')
                self.reconcile()  # anything that exited before the subscription
                for env in stream:
                    if self._stop.is_set():
                        return
                    self._dispatch(env)
            except PydError as e:
                log.warning("event stream lost; resubscribing", extra={"error": str(e)})
            except Exception:
                log.exception("monitor failed; resubscribing")
            self._stop.wait(0.5)

    def _dispatch(self, env: object) -> None:
        event = getattr(env, "event", None)
        if event is None:
            return
        kind = event.type_url.rsplit(".", 1)[-1]
        if kind == "TaskExit":
            msg = task_events.TaskExit()
            typeurl.unmarshal(event, msg)
            if msg.id in ("", msg.container_id):
                self.handle_exit(msg.container_id, int(msg.exit_status))
            else:
                self.d.exec_exited(msg.container_id, msg.id, int(msg.exit_status))
        elif kind == "TaskOOM":
            msg_oom = task_events.TaskOOM()
            typeurl.unmarshal(event, msg_oom)
            self._oom.add(msg_oom.container_id)
            with contextlib.suppress(NotFound):
                c = self.d.containers.get(msg_oom.container_id)
                self.d.events.emit("container", "oom", c.id, {"name": c.name})

    # ----------------------------------------------------------------------- exits
    def reconcile(self) -> None:
        """Containers recorded running whose task is gone get their exit recorded."""
        for c in self.d.containers.list():
            if not c.state.running:
                continue
            try:
                proc = self.d.containerd.get_task(c.id)
            except NotFound:
                self.handle_exit(c.id, None)
                continue
            except PydError:
                return  # containerd not answering: try again on the next subscription
            if proc.status in (3, 0):  # STOPPED or UNKNOWN
                self.handle_exit(c.id, int(proc.exit_status))

    def handle_exit(self, container_id: str, exit_status: int | None) -> None:
        """Record the exit of the container's init process and act on it."""
        d = self.d
        try:
            with d.locked(container_id) as c:
                if c.state.status not in (Status.RUNNING, Status.PAUSED):
                    return
                lazy_error = ""
                if c.state.lazy_restore:
                    from pyd_dockerd.daemon import lazy_restore

                    # before delete_task: the reason lives in the runtime's state dir
                    lazy_error = lazy_restore.failure_reason(d, c)
                    with contextlib.suppress(OSError):
                        lazy_restore.finished(d, c, lazy_error)
                with contextlib.suppress(NotFound):
                    res = d.containerd.delete_task(c.id)
                    if exit_status is None:
                        exit_status = res.exit_status
                with contextlib.suppress(NotFound):
                    d.containerd.delete_container(c.id)
                with contextlib.suppress(Exception):
                    d.network.detach(c)
                with contextlib.suppress(Exception):
                    d.network.remove_sandbox(c)
                code = 255 if exit_status is None else exit_status
                oom = c.id in self._oom
                self._oom.discard(c.id)
                restart = self._should_restart(c, code)
                if restart:
                    c.restart_count += 1
                    c.state.set_restarting(code, oom_killed=oom)
                else:
                    c.state.set_stopped(code, oom_killed=oom, error=lazy_error)
                d.containers.save(c)
                auto_remove = c.auto_remove and not restart
        except NotFound:
            return
        d.events.emit("container", "die", c.id, {"name": c.name, "exitCode": str(code)})
        with self._cond:
            self._generation[c.id] = self._generation.get(c.id, 0) + 1
            self._last_exit[c.id] = code  # for a "removed" wait that wakes after --rm
            self._cond.notify_all()
        if restart:
            threading.Thread(target=self._restart, args=(c.id,), daemon=True,
                             name=f"restart-{c.id[:12]}").start()
        elif auto_remove:
            from pyd_dockerd.daemon.delete import remove

            threading.Thread(target=lambda: self._quietly(remove, d, c.id, volumes=True),
                             daemon=True).start()

    @staticmethod
    def _quietly(fn: object, *args: object, **kw: object) -> None:
        try:
            fn(*args, **kw)  # type: ignore[operator]
        except Exception:
            log.exception("background step failed")

    def _should_restart(self, c: object, code: int) -> bool:
        from pyd_dockerd.container.container import Container

        assert isinstance(c, Container)
        name, maximum = c.restart_policy
        if c.manually_stopped or self._stop.is_set():
            return False
        if name == "always":
            return True
        if name == "unless-stopped":
            return True
        if name == "on-failure":
            return code != 0 and (maximum <= 0 or c.restart_count < maximum)
        return False

    def _restart(self, container_id: str) -> None:
        from pyd_dockerd.daemon.start import start

        delay = self._backoff.get(container_id, RESTART_BACKOFF_START)
        self._backoff[container_id] = min(delay * 2, RESTART_BACKOFF_MAX)
        if self._stop.wait(delay):
            return
        try:
            c = self.d.containers.get(container_id)
            if c.state.status is not Status.RESTARTING or c.manually_stopped:
                return
            start(self.d, container_id, restart=True)
        except Exception as e:
            log.warning("restart failed", extra={"id": container_id, "error": str(e)})
            with contextlib.suppress(Exception), self.d.locked(container_id) as c:
                c.state.set_stopped(c.state.exit_code, error=str(e))
                self.d.containers.save(c)
            with self._cond:
                self._cond.notify_all()

    # ----------------------------------------------------------------------- waits
    def wait_stopped(self, container_id: str, timeout: float | None) -> bool:
        """True once the container is not running (within `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                try:
                    c = self.d.containers.get(container_id)
                except NotFound:
                    return True
                if c.state.status not in (Status.RUNNING, Status.PAUSED):
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.5 if left is None else min(left, 0.5))

    def generation(self, container_id: str) -> int:
        """How many exits of the container were seen: a `next-exit` wait registered
        before a start (the Engine API answers its headers, then the client starts)
        passes it to `wait`, so an exit in between still counts."""
        with self._cond:
            return self._generation.get(container_id, 0)

    def wait(self, container_id: str, condition: str = "not-running",
             timeout: float | None = None, generation: int | None = None) -> int | None:
        """Docker's wait conditions; returns the exit code (None on timeout).
        `generation`: from `generation()` at registration (default: now)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            start_gen = (self._generation.get(container_id, 0) if generation is None
                         else generation)
            while True:
                try:
                    c = self.d.containers.get(container_id)
                except NotFound:
                    if condition == "removed":
                        return self._last_exit.get(container_id, 0)
                    raise
                self._last_exit[container_id] = c.state.exit_code
                done = {
                    "not-running": c.state.status not in (Status.RUNNING, Status.PAUSED,
                                                          Status.RESTARTING),
                    "next-exit": self._generation.get(container_id, 0) != start_gen,
                    "removed": False,
                }.get(condition, False)
                if done:
                    return c.state.exit_code
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(0.5 if left is None else min(left, 0.5))
