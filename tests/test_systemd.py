"""pyd's units under a real systemd: Debian's systemd boots as PID 1 in a systemd-nspawn
container whose root is this host's / under a throw-away overlay (so the checkout, its
venv and CRIU are inside), with its own network namespace. In there the units are
installed by scripts/install-units.sh, and the engine is used the way a host uses it:
the first CLI call starts pyd-dockerd through its socket, containerd is restarted under
a running container, `systemctl status` shows the daemon's STATUS= line, and `systemctl
stop` stops each daemon cleanly.

Everything the machine made on the host (its processes, the bind mount of /, its
cgroups, nspawn's files under /run/systemd/nspawn) is removed, pass or fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
ROOT = Path(__file__).parent.parent
NSPAWN = shutil.which("systemd-nspawn")
NSENTER = shutil.which("nsenter")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(NSPAWN is None or NSENTER is None,
                       reason="systemd-nspawn (Debian systemd-container) is not installed: "
                              "scripts/install.sh --dev installs it"),
]

GUEST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "HOME": "/root", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0",
             "TERM": "dumb"}
BOOT_TIMEOUT = 60.0


def _own_cgroups(leaf: str) -> list[Path]:
    """`leaf` below this process's cgroup in every mounted hierarchy (v1 and v2)."""
    mounts: list[tuple[str, str, set[str]]] = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mountpoint, fstype, opts = line.split()[:4]
            if fstype in ("cgroup", "cgroup2"):
                mounts.append((mountpoint, fstype, set(opts.split(","))))
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            want = set(controllers.split(",")) if controllers else set()
            for mountpoint, fstype, options in mounts:
                if (fstype == "cgroup2") == (not want) and want <= options:
                    out.append(Path(mountpoint + path) / leaf)
                    break
    return out


def _make_cgroup(path: Path) -> None:
    path.mkdir()
    for name in ("cpuset.cpus", "cpuset.mems"):  # a new v1 cpuset starts empty
        if (path / name).exists() and not (path / name).read_text().strip():
            (path / name).write_text((path.parent / name).read_text())


def _remove_cgroup(path: Path, timeout: float = 15.0) -> None:
    """Kill what is left in the subtree, then rmdir it bottom-up."""
    deadline = time.monotonic() + timeout
    while path.exists():
        dirs = sorted((Path(d) for d, _, _ in os.walk(path)), key=lambda p: -len(p.parts))
        for d in dirs:
            with contextlib.suppress(OSError):
                for pid in (d / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                d.rmdir()
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot remove cgroup {path}")
        if path.exists():
            time.sleep(0.1)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Machine:
    """A booted systemd-nspawn container; `run` executes a command inside it."""

    def __init__(self, name: str, base: Path) -> None:
        self.name = name
        self.base = base
        self.root = base / "root"
        self.console = base / "console.log"
        self.cgroups = _own_cgroups(f"pyd-systemd-{name}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0

    def boot(self) -> None:
        for cg in self.cgroups:
            _make_cgroup(cg)
        self.root.mkdir()
        argv = [str(NSPAWN), "--quiet", "-D", str(self.root), "-M", self.name,
                "--volatile=overlay", "--private-network", "--link-journal=no",
                # No systemd runs this host: nothing to register with or take a scope from.
                "--register=no", "--keep-unit",
                # Snapshots are overlayfs upper dirs, which overlayfs cannot host.
                "--tmpfs=/var/lib/pyd",
                # The checkout and the venv's Python: always bound, since the bind of "/"
                # misses other filesystems and the machine's /tmp is a fresh tmpfs (a CI
                # clone under /tmp would vanish).
                *[f"--bind-ro={p}" for p in sorted({str(ROOT), sys.base_prefix})],
                "--console=pipe", "--boot",
                # basic.target: the host's enabled services stay down; ours start by hand.
                "systemd.unit=basic.target"]
        with open(self.console, "wb") as console:
            self.proc = subprocess.Popen(self._prepared(argv), stdin=subprocess.DEVNULL,
                                         stdout=console, stderr=subprocess.STDOUT,
                                         env=GUEST_ENV, start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not self.leader:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}:\n"
                                   + self.console.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise TimeoutError("no init process in the machine")
            for child in _children(self.proc.pid):
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                        self.leader = child
            time.sleep(0.05)
        while True:  # until its manager answers (the bus socket comes up early in boot)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("systemd in the machine did not finish booting:\n"
                                   + self.console.read_text(errors="replace")[-3000:])
            out = self.run("systemctl", "is-system-running", "--wait", timeout=left)
            if out.stdout.strip():
                break
            time.sleep(0.1)
        assert out.stdout.strip() in ("running", "degraded"), (
            out.stdout + self.run("systemctl", "--failed", "--no-legend").stdout)
        self._writable_cgroups()

    def _prepared(self, argv: list[str]) -> list[str]:
        """`argv` run from the machine's cgroups, in a mount namespace of its own holding
        the machine's root. nspawn will not boot "/" itself; a read-only, non-recursive
        bind of it is the same tree, seen only by the machine (nothing on the host can
        walk into it or delete through it), and --volatile=overlay puts every write of
        the machine in a tmpfs. Done by unshare(1) and a shell, not a preexec_fn: a
        forked child of this gRPC-using process can die or hang before it execs (see
        tests/stack.py, netns_argv)."""
        script = ('for cg in $PYD_CGROUPS; do echo $$ > "$cg/cgroup.procs" || exit 1; done\n'
                  'mount --bind / "$PYD_ROOT" && mount -o remount,bind,ro "$PYD_ROOT" '
                  '&& exec "$@"')
        return ["env", f"PYD_CGROUPS={' '.join(str(cg) for cg in self.cgroups)}",
                f"PYD_ROOT={self.root}", "unshare", "--mount", "--propagation", "slave",
                "--", "sh", "-c", script, "sh", *argv]

    def _writable_cgroups(self) -> None:
        """nspawn mounts v1 controllers read-only without a user namespace; the engine
        makes container cgroups in them, as on a host. They stay inside our subtree
        (the machine's cgroup namespace is rooted there)."""
        for line in Path(f"/proc/{self.leader}/mountinfo").read_text().splitlines():
            fields = line.split()
            sep = fields.index("-")
            mountpoint, options, fstype = fields[4], fields[5], fields[sep + 1]
            if fstype == "cgroup" and "ro" in options.split(","):
                self.run("mount", "-o", "remount,bind,rw", mountpoint, check=True)

    def run(self, *argv: str, check: bool = False, timeout: float = 60.0,
            ) -> subprocess.CompletedProcess[str]:
        """`argv` inside the machine (all its namespaces, its root), as root."""
        out = subprocess.run([str(NSENTER), "-t", str(self.leader), "-a", "--", *argv],
                             capture_output=True, text=True, env=GUEST_ENV, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {out.returncode}:\n"
                                 f"{out.stdout}\n{out.stderr}")
        return out

    def pyd(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """The CLI inside the machine, on its default socket /run/pyd/pyd.sock."""
        for _ in range(3):
            out = self.run(str(ROOT / ".venv/bin/pyd"), *args, timeout=timeout)
            if out.returncode != -6:  # grpc poller abort under load: see tests/stack.py
                return out
        return out

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(props), check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *units: str) -> str:
        args = [a for u in units for a in ("-u", u)]
        return self.run("journalctl", "--no-pager", "-o", "cat", *args).stdout[-4000:]

    def teardown(self) -> None:
        """Kill the machine (its init: the whole PID namespace goes with it) and remove
        every trace on the host."""
        try:
            if self.leader and _alive(self.leader):
                os.kill(self.leader, signal.SIGKILL)
            if self.proc is not None:
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            deadline = time.monotonic() + 20
            while self.leader and _alive(self.leader) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            try:
                for cg in self.cgroups:
                    _remove_cgroup(cg)
            finally:
                # nspawn leaves this when /run is not a tmpfs (it is not, here).
                with contextlib.suppress(OSError):
                    Path(f"/run/systemd/nspawn/propagate/{self.name}").rmdir()
                shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def booted_machine() -> Iterator[Machine]:
    name = f"pyd-{uuid.uuid4().hex[:8]}"
    machine = Machine(name, Path(tempfile.mkdtemp(prefix=f"{name}-")))
    try:
        machine.boot()
        yield machine
    except BaseException:
        if machine.leader:  # shown by pytest with the failure
            with contextlib.suppress(Exception):
                print(machine.run("journalctl", "--no-pager", "-n", "300", "-u", "pyd-*",
                                  timeout=20).stdout)
        raise
    finally:
        machine.teardown()


def _wait(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll `fn` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def test_units_under_systemd_socket_activation_restart_and_stop() -> None:
    with booted_machine() as m:
        m.run("bash", str(ROOT / "scripts/install-units.sh"), "--now", check=True,
              timeout=120)
        assert m.show("pyd-containerd.service", "ActiveState")["ActiveState"] == "active"
        assert m.show("pyd-dockerd.socket", "ActiveState")["ActiveState"] == "active"
        # Nothing has connected yet: the engine is not running, its socket is.
        assert m.show("pyd-dockerd.service", "ActiveState")["ActiveState"] == "inactive"
        st = m.run("stat", "-c", "%a %G %F", "/run/pyd/pyd.sock", check=True).stdout.split()
        assert st[:2] == ["660", "pyd"] and st[2] == "socket", st

        # The first call starts pyd-dockerd through the socket, and goes through.
        out = m.pyd("run", "--rm", "busybox", "echo", "hi", timeout=120)
        assert (out.returncode, out.stdout) == (0, "hi\n"), out.stderr + m.journal(
            "pyd-dockerd.service", "pyd-containerd.service")
        dockerd = m.show("pyd-dockerd.service", "ActiveState", "MainPID", "NRestarts")
        assert dockerd["ActiveState"] == "active", dockerd
        # Serving the passed socket, on the unit's containerd (not one of its own).
        info = m.pyd("info").stdout
        assert " Hosts: fd://\n" in info, info
        assert " Containerd Address: unix:///run/pyd/containerd/containerd.sock\n" in info
        assert m.run("test", "-e", "/run/pyd/containerd/containerd.pid").returncode != 0

        out = m.pyd("run", "-d", "--name", "keep", "busybox", "sleep", "1000")
        assert out.returncode == 0, out.stderr
        pid = m.pyd("inspect", "-f", "{{.State.Pid}}", "keep").stdout.strip()
        assert pid.isdigit() and pid != "0", pid

        # STATUS= from the engine, refreshed while it runs.
        status_re = re.compile(r'Status: "serving on unix:///run/pyd/pyd\.sock '
                               r'\(socket activation\), 1 containers, 1 running"')
        _wait("status line with the running container",
              lambda: status_re.search(m.run("systemctl", "status", "--no-pager",
                                             "pyd-dockerd.service").stdout))
        assert "Status: \"serving on unix:///run/pyd/containerd/containerd.sock" in m.run(
            "systemctl", "status", "--no-pager", "pyd-containerd.service").stdout

        # containerd restarts under a running container: the container and the engine
        # stay, and the new containerd serves it (exec goes through its shim).
        old = m.show("pyd-containerd.service", "MainPID")["MainPID"]
        m.run("systemctl", "restart", "pyd-containerd.service", check=True)
        new = m.show("pyd-containerd.service", "MainPID", "ActiveState")
        assert new["ActiveState"] == "active" and new["MainPID"] != old, new
        assert m.run("kill", "-0", pid).returncode == 0, "container died with containerd"
        ps = m.pyd("ps", "--format", "{{.Names}} {{.Status}}")
        assert ps.returncode == 0 and re.search(r"^keep Up", ps.stdout, re.M), (
            ps.stdout + ps.stderr)
        assert m.show("pyd-dockerd.service", "MainPID")["MainPID"] == dockerd["MainPID"]
        def exec_again() -> subprocess.CompletedProcess[str] | None:
            r = m.pyd("exec", "keep", "echo", "again")
            return r if r.returncode == 0 else None

        assert _wait("exec through the new containerd", exec_again).stdout == "again\n"

        # A stopped engine is started again by the next call on its socket.
        m.run("systemctl", "stop", "pyd-dockerd.service", check=True)
        stopped = m.show("pyd-dockerd.service", "ActiveState", "Result")
        assert stopped == {"ActiveState": "inactive", "Result": "success"}, stopped
        assert m.run("kill", "-0", pid).returncode == 0, "container died with the engine"
        ps = m.pyd("ps", "-q")
        assert ps.returncode == 0 and len(ps.stdout.split()) == 1, ps.stdout + ps.stderr

        # Clean stops: each daemon exits by itself on SIGTERM, with status 0.
        assert m.pyd("rm", "-f", "keep").returncode == 0
        m.run("systemctl", "stop", "pyd-dockerd.socket", "pyd-dockerd.service",
              "pyd-containerd.service", check=True, timeout=90)
        for unit in ("pyd-dockerd.service", "pyd-containerd.service"):
            s = m.show(unit, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
            assert s["ActiveState"] == "inactive" and s["Result"] == "success", (unit, s)
            assert s["ExecMainStatus"] == "0", (unit, s, m.journal(unit))
        assert "msg=stopped" in m.journal("pyd-dockerd.service")
