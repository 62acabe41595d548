"""Starts and supervises pyd-containerd when dockerd is given no --containerd address
(moby's libcontainerd/supervisor): a pid file lets a restarted dockerd adopt the
containerd its killed predecessor left running, and the child is restarted if it dies."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from pyd_proto.errdefs import Unavailable

log = logging.getLogger("pyd.dockerd.supervisor")

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def find_binary(name: str) -> str:
    """`name` beside the running interpreter (the venv's bin), else on PATH."""
    sibling = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name}: executable not found beside {sys.executable} or on PATH")
    return found


def _pid_alive_as(pid: int, needle: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle.encode() in f.read()
    except OSError:
        return False


class Supervisor:
    def __init__(self, root: str, state: str, address: str, *, debug: bool = False,
                 runtime: str = "", runtime_root: str = "") -> None:
        self.root, self.state, self.address, self.debug = root, state, address, debug
        self.runtime, self.runtime_root = runtime, runtime_root
        self.pidfile = os.path.join(state, "containerd.pid")
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        """Adopt a live pyd-containerd from the pid file, or start one; wait until it serves."""
        os.makedirs(self.state, mode=0o711, exist_ok=True)
        pid = self._read_pidfile()
        if pid and _pid_alive_as(pid, "pyd-containerd"):
            log.info("adopting running containerd", extra={"pid": pid})
            self.pid = pid
        else:
            self._spawn()
        self._wait_serving()
        self._monitor = threading.Thread(target=self._watch, name="containerd-monitor",
                                         daemon=True)
        self._monitor.start()

    def _read_pidfile(self) -> int | None:
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _spawn(self) -> None:
        argv = [find_binary("pyd-containerd"), "--root", self.root, "--state", self.state,
                "--address", self.address]
        if self.runtime:
            argv += ["--runtime-binary", self.runtime]
        if self.runtime_root:
            argv += ["--runtime-root", self.runtime_root]
        if self.debug:
            argv.append("--debug")
        # Own process group: a Ctrl-C meant for dockerd does not reach containerd (moby: Setpgid).
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self._proc.pid
        tmp = self.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self.pid))
        os.replace(tmp, self.pidfile)
        log.info("started containerd", extra={"pid": self.pid, "address": self.address})

    def _alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and _pid_alive_as(self.pid, "pyd-containerd")

    def _wait_serving(self) -> None:
        from pyd_dockerd.libcontainerd.client import health_check

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self._alive():
                code = self._proc.returncode if self._proc else None
                raise Unavailable(f"pyd-containerd exited during start (status {code})")
            if health_check(self.address, timeout=0.5):
                return
            time.sleep(0.05)
        raise Unavailable(f"pyd-containerd did not answer on {self.address} "
                          f"within {START_TIMEOUT:.0f}s")

    def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            if self._proc is not None:
                self._proc.wait()
            elif self._alive():
                self._stopping.wait(1.0)
                continue
            if self._stopping.is_set():
                return
            log.warning("containerd exited; restarting", extra={"pid": self.pid})
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 10.0)
            try:
                self._spawn()
                self._wait_serving()
                backoff = 0.5
            except Exception:
                log.exception("restarting containerd failed")

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL: containerd lets its shims (and containers) run on."""
        self._stopping.set()
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self._alive():
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(0.05)
            else:
                time.sleep(0.05)
        if self._alive():
            log.warning("containerd ignored SIGTERM; killing", extra={"pid": self.pid})
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            if self._proc is not None:
                self._proc.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pidfile)
        log.info("containerd stopped", extra={"pid": self.pid})
