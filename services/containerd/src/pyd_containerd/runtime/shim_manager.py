"""The shim manager (containerd's runtime/v2 shim manager): it owns shim processes and nothing else.

    <state>/io.containerd.runtime.v2.task/<namespace>/<id>/   the task's bundle
        config.json   the container's OCI spec      options.json  runtime binary and root
        address       the shim's ttrpc socket        shim.pid      the shim's pid
        exit.json     the init's exit (the shim writes it; containerd does if the shim died)

It starts shims (`pyd-shim start`), reconnects to the ones still running when
containerd starts, notices a shim that died (its connection closes) and
cleans up after it (`pyd-shim delete`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import empty_pb2
from google.protobuf.message import Message

from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
from pyd_proto.errdefs import FailedPrecondition, PydError
from pyd_shim import ttrpc, zygote
from pyd_shim.mount import is_mountpoint
from pyd_shim.task_service import EXIT_FILE, OPTIONS_FILE
from pyd_shim.task_service import SERVICE as TASK_SERVICE

log = logging.getLogger("pyd.containerd.runtime")

RUNTIME_DIR = "io.containerd.runtime.v2.task"
ADDRESS_FILE = "address"
START_TIMEOUT = 30.0

M = TypeVar("M", bound=Message)


class Exit:
    """How a task's init ended, as a dead shim left it."""

    __slots__ = ("at", "pid", "status")

    def __init__(self, pid: int, status: int, at: float) -> None:
        self.pid = pid
        self.status = status
        self.at = at


class Shim:
    """A connection to one live shim; each method is one `containerd.task.v2.Task` call."""

    def __init__(self, namespace: str, id: str, bundle: str, address: str,
                 on_close: Callable[[Shim], None]) -> None:
        self.namespace = namespace
        self.id = id
        self.bundle = bundle
        self.address = address
        self.client = ttrpc.Client(address, timeout=5.0,
                                   metadata={ttrpc.NAMESPACE_KEY: namespace},
                                   on_close=lambda: on_close(self))

    def call(self, method: str, request: Message, response: M,
             timeout: float | None = 60.0) -> M:
        return self.client.call(TASK_SERVICE, method, request, response, timeout=timeout)

    def empty(self, method: str, request: Message, timeout: float | None = 60.0) -> None:
        self.call(method, request, empty_pb2.Empty(), timeout)

    def close(self) -> None:
        self.client.close()

    @property
    def alive(self) -> bool:
        return not self.client.closed


def default_shim_binary() -> str:
    """`pyd-shim` beside this interpreter (a venv's bin), else from PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "pyd-shim")
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which("pyd-shim") or "pyd-shim"


class ShimManager:
    def __init__(self, state: str, containerd_address: str, ttrpc_address: str, *,
                 shim_binary: str = "", on_dead: Callable[[Shim], None] | None = None,
                 zygote: bool = True) -> None:
        self.root = os.path.join(state, RUNTIME_DIR)
        self.containerd_address = containerd_address
        self.ttrpc_address = ttrpc_address
        self.shim_binary = shim_binary or default_shim_binary()
        self.on_dead = on_dead or (lambda shim: None)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        self.zygote_path = os.path.join(state, "shim-zygote.sock")
        self._zygote_pid_file = os.path.join(state, "shim-zygote.pid")
        self._zygote: subprocess.Popen[bytes] | None = None
        if zygote:
            self.start_zygote()

    # -- the zygote (a warm parent shims are forked from; see pyd_shim.zygote) ----------

    def start_zygote(self) -> None:
        """Replace a zygote left by a killed containerd, start ours, wait until it listens.

        Call from the thread that lives as long as containerd (the zygote dies with it).
        """
        self.stop_zygote()
        log_path = os.path.join(os.path.dirname(self.zygote_path), "shim-zygote.log")
        with open(log_path, "ab") as logf:
            self._zygote = subprocess.Popen(
                [self.shim_binary, "-address", self.zygote_path, "zygote"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
                env={**os.environ, "MALLOC_ARENA_MAX": "1",
                     "PYD_SHIM_ZYGOTE_PARENT": str(os.getpid())})
        with open(self._zygote_pid_file, "w") as f:
            f.write(str(self._zygote.pid))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._zygote.poll() is None:
            if os.path.exists(self.zygote_path):
                log.info("shim zygote started", extra={"pid": self._zygote.pid})
                return
            time.sleep(0.01)
        log.warning("shim zygote did not start; shims start with `pyd-shim start`")

    def stop_zygote(self) -> None:
        if self._zygote is not None:
            self._zygote.kill()
            self._zygote.wait(5)
            self._zygote = None
        else:
            with contextlib.suppress(OSError, ValueError):
                with open(self._zygote_pid_file) as f:
                    pid = int(f.read().strip())
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
                if b"zygote" in cmd and self.zygote_path.encode() in cmd:
                    os.kill(pid, 9)
        for path in (self.zygote_path, self._zygote_pid_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def bundle_path(self, namespace: str, id: str) -> str:
        return os.path.join(self.root, namespace, id)

    # -- starting ---------------------------------------------------------------------

    def prepare_bundle(self, namespace: str, id: str, spec: dict[str, Any],
                       options: dict[str, Any]) -> str:
        """Write config.json and options.json into a fresh bundle directory."""
        bundle = self.bundle_path(namespace, id)
        os.makedirs(os.path.dirname(bundle), mode=0o711, exist_ok=True)
        if os.path.exists(bundle):
            shutil.rmtree(bundle)
        os.mkdir(bundle, 0o711)
        for name, data in (("config.json", spec), (OPTIONS_FILE, options)):
            with open(os.path.join(bundle, name), "w") as f:
                json.dump(data, f)
        return bundle

    def start(self, namespace: str, id: str, bundle: str, *, shim_binary: str = "",
              debug: bool = False) -> Shim:
        """Fork a shim from the zygote, or run `pyd-shim start` in the bundle; connect to
        the address it gives."""
        if not shim_binary and self._zygote is not None and self._zygote.poll() is None:
            try:
                address = zygote.spawn(self.zygote_path, {
                    "namespace": namespace, "id": id, "bundle": bundle,
                    "address": self.containerd_address, "ttrpc_address": self.ttrpc_address,
                    "debug": debug}, timeout=START_TIMEOUT)
                log.info("shim started", extra={"namespace": namespace, "id": id,
                                                "address": address, "from": "zygote"})
                return Shim(namespace, id, bundle, address, self._closed)
            except OSError as e:
                log.warning("shim zygote unavailable", extra={"error": str(e)})
            except RuntimeError as e:
                raise FailedPrecondition(f"start shim for {namespace}/{id}: {e}") from e
        argv = [shim_binary or self.shim_binary, "-namespace", namespace, "-id", id,
                "-address", self.containerd_address]
        if debug:
            argv.append("-debug")
        env = {**os.environ, "TTRPC_ADDRESS": self.ttrpc_address,
               # one malloc arena: a shim's threads are mostly idle, its memory is not
               "MALLOC_ARENA_MAX": "1"}
        try:
            out = subprocess.run([*argv, "start"], cwd=bundle, env=env, capture_output=True,
                                 text=True, timeout=START_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FailedPrecondition(f"start shim for {namespace}/{id}: {e}") from e
        if out.returncode != 0:
            raise FailedPrecondition(f"start shim for {namespace}/{id}: "
                                     f"{(out.stderr or out.stdout).strip()}")
        address = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if not address:
            raise FailedPrecondition(f"start shim for {namespace}/{id}: no address printed")
        log.info("shim started", extra={"namespace": namespace, "id": id, "address": address})
        return Shim(namespace, id, bundle, address, self._closed)

    def _closed(self, shim: Shim) -> None:
        log.warning("shim connection lost", extra={"namespace": shim.namespace, "id": shim.id})
        # Not in the connection's reader thread: cleanup runs a process and takes locks.
        threading.Thread(target=self.on_dead, args=(shim,), daemon=True,
                         name="shim-dead").start()

    # -- after containerd restarted -------------------------------------------------------

    def load(self) -> tuple[list[Shim], list[tuple[str, str, str]]]:
        """Reconnect to every shim with a bundle here: (live shims, dead (ns, id, bundle))."""
        live: list[Shim] = []
        dead: list[tuple[str, str, str]] = []
        if not os.path.isdir(self.root):
            return live, dead
        for ns in sorted(os.listdir(self.root)):
            nsdir = os.path.join(self.root, ns)
            if not os.path.isdir(nsdir):
                continue
            for id in sorted(os.listdir(nsdir)):
                bundle = os.path.join(nsdir, id)
                shim = self._reconnect(ns, id, bundle)
                if shim is not None:
                    live.append(shim)
                else:
                    dead.append((ns, id, bundle))
        return live, dead

    def _reconnect(self, ns: str, id: str, bundle: str) -> Shim | None:
        try:
            with open(os.path.join(bundle, ADDRESS_FILE)) as f:
                address = f.read().strip()
        except OSError:
            return None
        try:
            shim = Shim(ns, id, bundle, address, self._closed)
        except PydError:
            return None
        try:
            resp = shim.call("Connect", pb.ConnectRequest(id=id), pb.ConnectResponse(), 5.0)
        except PydError as e:
            log.warning("shim not answering", extra={"namespace": ns, "id": id,
                                                      "error": str(e)})
            shim.close()
            return None
        log.info("shim reconnected", extra={"namespace": ns, "id": id,
                                            "shim_pid": resp.shim_pid, "pid": resp.task_pid})
        return shim

    # -- cleaning up --------------------------------------------------------------------

    def cleanup(self, namespace: str, id: str, bundle: str, *,
                shim_binary: str = "") -> Exit:
        """After a shim died: `pyd-shim delete` (kill what is left, unmount), record the exit.

        The exit is the one the shim left in exit.json, else `pyd-shim delete`'s
        (128 + SIGKILL: the container was killed here); it is kept in exit.json so a
        restarted containerd reports the same.
        """
        exit = read_exit(bundle)
        argv = [shim_binary or self.shim_binary, "-namespace", namespace, "-id", id,
                "-address", self.containerd_address, "delete"]
        try:
            out = subprocess.run(argv, cwd=bundle, capture_output=True, timeout=60,
                                 check=False)
            if out.returncode == 0 and exit is None:
                resp = pb.DeleteResponse()
                resp.ParseFromString(out.stdout)
                exit = Exit(resp.pid, resp.exit_status,
                            resp.exited_at.seconds + resp.exited_at.nanos / 1e9)
            elif out.returncode != 0:
                log.warning("shim delete failed", extra={
                    "namespace": namespace, "id": id, "error": out.stderr.decode().strip()})
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("shim delete failed", extra={"id": id, "error": str(e)})
        if exit is None:
            exit = Exit(0, 128 + 9, time.time())
        write_exit(bundle, exit)
        for name in (ADDRESS_FILE, "shim.pid"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(bundle, name))
        return exit

    def kill(self, bundle: str) -> None:
        """SIGKILL the shim serving `bundle` (its pid is in the bundle)."""
        with contextlib.suppress(OSError, ValueError):
            with open(os.path.join(bundle, "shim.pid")) as f:
                os.kill(int(f.read().strip()), 9)

    def remove_bundle(self, namespace: str, id: str) -> None:
        bundle = self.bundle_path(namespace, id)
        rootfs = os.path.join(bundle, "rootfs")
        if is_mountpoint(rootfs):
            subprocess.run(["umount", "-R", rootfs], capture_output=True, check=False)
        shutil.rmtree(bundle, ignore_errors=True)


def read_exit(bundle: str) -> Exit | None:
    try:
        with open(os.path.join(bundle, EXIT_FILE)) as f:
            data = json.load(f)
        return Exit(int(data["pid"]), int(data["exit_status"]), float(data["exited_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_exit(bundle: str, exit: Exit) -> None:
    path = os.path.join(bundle, EXIT_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump({"pid": exit.pid, "exit_status": exit.status, "exited_at": exit.at}, f)
    os.replace(path + ".tmp", path)
