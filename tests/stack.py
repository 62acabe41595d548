"""A whole pyd stack in a private root: its own temporary directories, network
namespace and cgroup parent. Tests get one from the `stack` fixture; it is torn down
completely (daemons, shims, containers, mounts, cgroups, netns) whether they pass or fail."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests import hostcleanup

VENV_BIN = Path(sys.executable).parent


def wait_for(pred: Callable[[], object], timeout: float = 30.0, step: float = 0.1) -> bool:
    """Poll `pred` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def binary(name: str) -> str:
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: run scripts/install.sh first")
    return str(path)


def create_netns(name: str) -> str:
    """A named network namespace with its loopback up; returns its path."""
    from pyroute2 import NetNS, netns

    netns.create(name)
    with NetNS(name) as ns:
        idx = ns.link_lookup(ifname="lo")[0]
        ns.link("set", index=idx, state="up")
    return f"/run/netns/{name}"


def remove_netns(name: str) -> None:
    from pyroute2 import netns

    with contextlib.suppress(OSError, FileNotFoundError):
        netns.remove(name)


@dataclass
class Stack:
    """One pyd host: dockerd (which supervises its own containerd) in a private root."""

    name: str
    base: Path
    netns: str = ""
    cgroup_parent: str = ""
    dockerd: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.base / "root"
        self.state = self.base / "state"
        self.log_path = self.base / "dockerd.log"
        self.cgroup_parent = self.cgroup_parent or f"pyd-test-{self.name}"

    @property
    def socket(self) -> Path:
        return self.state / "pyd.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    def _enter_netns(self) -> None:
        if self.netns:
            hostcleanup.setns(self.netns, hostcleanup.CLONE_NEWNET)

    def netns_argv(self, argv: list[str]) -> list[str]:
        """`argv`, run in the stack's network namespace through nsenter.

        Not with `preexec_fn=_enter_netns`: a preexec_fn makes subprocess fork (not
        vfork) and run Python in the child, and in a process whose gRPC channels are
        busy that child can die before it execs — SIGABRT with grpc's "epoll_wait
        error: Bad file descriptor", now and then SIGSEGV (about 2% of 5,000 forks
        here while two threads made health checks). That was the "CLI aborted by
        grpc" of earlier sessions: the CLI never ran."""
        return ["nsenter", f"--net={self.netns}", "--", *argv] if self.netns else argv

    def start(self, timeout: float = 30.0, *extra: str) -> None:
        """Start pyd-dockerd and wait until it and its containerd answer."""
        argv = [binary("pyd-dockerd"), "--root", str(self.root), "--state", str(self.state),
                "--cgroup-parent", self.cgroup_parent, "--debug", *extra]
        log = open(self.log_path, "ab")
        self.dockerd = subprocess.Popen(self.netns_argv(argv), stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.dockerd.poll() is not None:
                raise RuntimeError(f"pyd-dockerd exited {self.dockerd.returncode}:\n"
                                   + self.log_path.read_text()[-3000:])
            if self.socket.exists() and self.ping():
                return
            time.sleep(0.05)
        raise TimeoutError("pyd-dockerd did not answer:\n" + self.log_path.read_text()[-3000:])

    def ping(self) -> bool:
        """dockerd reports SERVING (it does once its containerd answers)."""
        from pyd_dockerd.libcontainerd.client import health_check

        return health_check(str(self.socket), timeout=1.0)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Signal dockerd and wait for it; returns its exit status."""
        if self.dockerd is None or self.dockerd.poll() is not None:
            return self.dockerd.returncode if self.dockerd else None
        self.dockerd.send_signal(sig)
        try:
            return self.dockerd.wait(timeout)
        except subprocess.TimeoutExpired:
            self.dockerd.kill()
            return self.dockerd.wait()

    def containerd_pid(self) -> int | None:
        try:
            return int((self.state / "containerd" / "containerd.pid").read_text())
        except (OSError, ValueError):
            return None

    def cli(self, *args: str, check: bool = False, timeout: float = 60.0,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run the `pyd` CLI against this stack (in its network namespace)."""
        env = {**os.environ, "PYD_HOST": self.host}
        return subprocess.run(self.netns_argv([binary("pyd"), *args]), capture_output=True,
                              text=True, env=env, timeout=timeout, check=check,
                              input=input.decode() if input else None,
                              stdin=None if input else subprocess.DEVNULL)

    def teardown(self) -> None:
        """Remove everything this stack made on the host, whatever state it is in."""
        self.stop(signal.SIGTERM, timeout=15)
        paths = [str(self.root), str(self.state)]
        pids = hostcleanup.pids_mentioning(paths)
        if self.netns:
            pids |= hostcleanup.pids_in_netns(self.netns)
        pids |= hostcleanup.pids_in_cgroups(self.cgroup_parent)
        hostcleanup.kill_all(pids)
        hostcleanup.unmount_all(hostcleanup.mounts_under(paths))
        hostcleanup.remove_cgroups(self.cgroup_parent)

    def leftovers(self) -> dict[str, object]:
        """What a clean teardown must leave: nothing (used by tests of cleanup itself)."""
        paths = [str(self.root), str(self.state)]
        return {"pids": hostcleanup.pids_mentioning(paths),
                "mounts": hostcleanup.mounts_under(paths),
                "cgroups": hostcleanup.cgroup_dirs(self.cgroup_parent)}


@contextlib.contextmanager
def private_stack(name: str | None = None, *, start: bool = True) -> Iterator[Stack]:
    """A started stack in its own temp dirs, netns and cgroup parent; always cleaned up."""
    name = name or uuid.uuid4().hex[:8]
    base = Path(tempfile.mkdtemp(prefix=f"pyd-{name}-"))
    ns_name = f"pyd-test-{name}"
    stack = Stack(name=name, base=base)
    try:
        stack.netns = create_netns(ns_name)
        if start:
            stack.start()
        yield stack
    finally:
        try:
            stack.teardown()
        finally:
            remove_netns(ns_name)
            shutil.rmtree(base, ignore_errors=True)
