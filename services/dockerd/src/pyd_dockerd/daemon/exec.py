"""`docker exec` (moby daemon/exec.go): a process added to a running container's task,
its stdio carried over fifos that dockerd reads and writes (as moby does)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyd_dockerd.daemon import oci
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.exec")


@dataclass
class ExecConfig:
    id: str
    container_id: str
    cmd: list[str]
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    privileged: bool = False
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    done: threading.Event = field(default_factory=threading.Event)


class ExecStore:
    """Exec instances live as long as dockerd (Docker keeps them in memory too)."""

    def __init__(self) -> None:
        self._execs: dict[str, ExecConfig] = {}
        self._lock = threading.Lock()

    def add(self, e: ExecConfig) -> None:
        with self._lock:
            self._execs[e.id] = e

    def get(self, exec_id: str) -> ExecConfig:
        with self._lock:
            e = self._execs.get(exec_id)
        if e is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return e

    def of_container(self, container_id: str) -> list[str]:
        with self._lock:
            return [k for k, e in self._execs.items() if e.container_id == container_id]


def create(d: Daemon, ref: str, cfg: ExecConfig) -> ExecConfig:
    c = d.containers.get(ref)
    if not c.state.running:
        raise FailedPrecondition(f"Container {c.id} is not running")
    if c.state.paused:
        raise FailedPrecondition(f"Container {c.id} is paused, unpause the container before exec")
    if not cfg.cmd:
        raise InvalidArgument("No exec command specified")
    cfg.id = secrets.token_hex(32)
    cfg.container_id = c.id
    d.execs.add(cfg)
    d.events.emit("container", f"exec_create: {' '.join(cfg.cmd)}", c.id, {"name": c.name,
                                                                          "execID": cfg.id})
    return cfg


def _process(d: Daemon, e: ExecConfig) -> dict[str, Any]:
    """The exec's OCI Process: the container's, with the exec's own settings on top."""
    spec = d.containerd.container_spec(e.container_id)
    proc: dict[str, Any] = dict(spec.get("process") or {})
    c = d.containers.get(e.container_id)
    env: dict[str, str] = {}
    for item in [*(proc.get("env") or []), *e.env]:
        env[item.partition("=")[0]] = item
    proc.update(args=list(e.cmd), env=list(env.values()), terminal=e.tty,
                cwd=e.working_dir or proc.get("cwd") or "/")
    if e.user:
        uid, gid, groups = oci.resolve_user(d.rootfs_hint(c), e.user)
        proc["user"] = {"uid": uid, "gid": gid, **({"additionalGids": groups} if groups else {})}
    if e.privileged:
        caps = oci.ALL_CAPS
        proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    proc.pop("consoleSize", None)
    return proc


def start(d: Daemon, exec_id: str, stdin: Iterator[bytes] | None = None,
          detach: bool = False) -> Iterator[tuple[str, bytes]]:
    """Run the exec; yields (stream, data) of its output until it ends. Its exit code is
    on the ExecConfig afterwards."""
    e = d.execs.get(exec_id)
    if e.running or e.exit_code is not None:
        raise FailedPrecondition(f"Error: Exec command {exec_id} is already running"
                                 if e.running else f"exec {exec_id} has already run")
    c = d.containers.get(e.container_id)
    if not c.state.running:
        raise FailedPrecondition(f"Container {c.id} is not running")
    fifo_dir = os.path.join(d.config.state, "exec", exec_id)
    os.makedirs(fifo_dir, mode=0o700)
    paths = {name: os.path.join(fifo_dir, name) for name in ("stdin", "stdout", "stderr")}
    try:
        readers: dict[str, int] = {}
        if not detach:
            for name in ("stdout", "stderr"):
                if name == "stderr" and e.tty:
                    continue
                os.mkfifo(paths[name], 0o600)
                # Non-blocking open: the shim opens the write side later.
                readers[name] = os.open(paths[name], os.O_RDONLY | os.O_NONBLOCK)
        use_stdin = e.attach_stdin and stdin is not None and not detach
        if use_stdin:
            os.mkfifo(paths["stdin"], 0o600)
        d.containerd.exec_process(
            c.id, exec_id, _process(d, e),
            stdin=paths["stdin"] if use_stdin else "",
            stdout=paths["stdout"] if "stdout" in readers else "",
            stderr=paths["stderr"] if "stderr" in readers else "", terminal=e.tty)
        if use_stdin:
            assert stdin is not None
            threading.Thread(target=_feed_stdin, args=(d, c.id, exec_id, paths["stdin"], stdin),
                             daemon=True).start()
        e.pid = d.containerd.start_task(c.id, exec_id)
        e.running = True
        d.events.emit("container", f"exec_start: {' '.join(e.cmd)}", c.id,
                      {"name": c.name, "execID": exec_id})
        waiter = threading.Thread(target=_wait, args=(d, e), daemon=True)
        waiter.start()
        if detach:
            return
        yield from _pump(readers, e.done)
        waiter.join()
    finally:
        shutil.rmtree(fifo_dir, ignore_errors=True)


def _wait(d: Daemon, e: ExecConfig) -> None:
    try:
        res = d.containerd.wait_task(e.container_id, e.id, timeout=None)
        e.exit_code = res.exit_status
        with contextlib.suppress(NotFound):
            d.containerd.delete_process(e.container_id, e.id)
    except Exception as err:
        log.warning("exec wait failed", extra={"exec_id": e.id, "error": str(err)})
        if e.exit_code is None:
            e.exit_code = 126
    finally:
        e.running = False
        e.done.set()


def _pump(readers: dict[str, int], done: threading.Event) -> Iterator[tuple[str, bytes]]:
    """Copy the fifos until the process ended and they are drained."""
    import select

    try:
        open_fds = dict(readers)
        while open_fds:
            ready, _, _ = select.select(list(open_fds.values()), [], [], 0.1)
            for name, fd in list(open_fds.items()):
                if fd not in ready:
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    yield name, data
                elif done.is_set():
                    del open_fds[name]  # EOF after the exit: drained
            if done.is_set() and not ready:
                return
    finally:
        for fd in readers.values():
            with contextlib.suppress(OSError):
                os.close(fd)


def _feed_stdin(d: Daemon, cid: str, exec_id: str, path: str,
                stdin: Iterator[bytes]) -> None:
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return
    try:
        for chunk in stdin:
            os.write(fd, chunk)
    except (OSError, StopIteration):
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(Exception):
            d.containerd.close_stdin(cid, exec_id)
