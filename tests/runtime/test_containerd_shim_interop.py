"""containerd's own shim (containerd-shim-runc-v2) drives pyd-runc unchanged.

A private containerd (own root, state, socket, and a namespace of its own, so the shim's
runc root /run/containerd/runc/<namespace> and the cgroups /<namespace>/<id> are the
test's alone) runs containers from a busybox rootfs with `ctr run --runc-binary
pyd-runc`: the shim calls `pyd-runc create/start/state/exec/kill/delete` with its usual
flags (--root, --log log.json --log-format json, --pid-file, ...).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")
NEEDED = ("containerd", "ctr", "containerd-shim-runc-v2", "busybox")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(any(shutil.which(b) is None for b in NEEDED),
                       reason="needs containerd, ctr, containerd-shim-runc-v2, busybox"),
]

CONFIG = """version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.opt",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{base}/c.sock"
[ttrpc]
  address = "{base}/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


class Ctr:
    def __init__(self, base: Path, ns: str) -> None:
        self.base = base
        self.ns = ns

    def __call__(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ctr", "--address", str(self.base / "c.sock"), "-n", self.ns,
                               *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


@pytest.fixture
def ctr():
    # short socket paths: unix sockets are limited to 108 bytes
    base = Path(tempfile.mkdtemp(prefix="pyd-ctrd-"))
    ns = f"pyd-test-{uuid.uuid4().hex[:8]}"
    (base / "config.toml").write_text(CONFIG.format(base=base))
    rootfs = base / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
    for a in ("sh", "sleep", "hostname", "cat", "ls", "echo"):
        os.symlink("busybox", rootfs / "bin" / a)
    for d in ("proc", "sys", "dev", "tmp"):
        (rootfs / d).mkdir()
    log = open(base / "containerd.log", "w")
    proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")],
                            stdout=log, stderr=log, start_new_session=True)
    c = Ctr(base, ns)
    try:
        deadline = time.monotonic() + 15
        while c("version").returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "containerd failed"
            time.sleep(0.1)
        yield c
    finally:
        for line in c("task", "ls", "-q").stdout.split():
            c("task", "kill", "-s", "9", line)
        time.sleep(0.2)
        for line in c("task", "ls", "-q").stdout.split():
            c("task", "rm", "-f", line)
        for line in c("container", "ls", "-q").stdout.split():
            c("container", "rm", line)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        # shims outlive containerd by design: stop ours
        out = subprocess.run(["pgrep", "-f", f"containerd-shim-runc-v2.*{base}/c.sock"],
                             capture_output=True, text=True).stdout.split()
        for pid in out:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        for h in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "systemd"):
            cg = Path("/sys/fs/cgroup") / h / ns
            if cg.is_dir():
                for sub in cg.iterdir():
                    if sub.is_dir():
                        sub.rmdir()
                cg.rmdir()
        shutil.rmtree(f"/run/containerd/runc/{ns}", ignore_errors=True)
        subprocess.run(["umount", "-R", str(base / "state")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_containerd_shim_runs_a_container_through_pyd_runc(ctr):
    res = ctr("run", "--rm", "--runc-binary", PYD_RUNC, "--rootfs", str(ctr.base / "rootfs"),
              "c1", "/bin/sh", "-c", "echo $$; exit 5")
    assert res.returncode == 5, res.stderr
    assert res.stdout.split() == ["1"]
    # the shim's runtime root is pyd-runc's --root: nothing left in it
    assert os.listdir(f"/run/containerd/runc/{ctr.ns}") == []


def test_containerd_shim_exec_kill_and_delete_through_pyd_runc(ctr):
    res = ctr("run", "-d", "--runc-binary", PYD_RUNC, "--rootfs", str(ctr.base / "rootfs"),
              "c2", "/bin/sleep", "100")
    assert res.returncode == 0, res.stderr
    tasks = ctr("task", "ls").stdout
    assert "c2" in tasks and "RUNNING" in tasks
    state = Path(f"/run/containerd/runc/{ctr.ns}/c2/state.json")
    assert state.exists()  # pyd-runc's own state, under the shim's --root
    res = ctr("task", "exec", "--exec-id", "e1", "c2", "/bin/sh", "-c",
              "cat /proc/1/cmdline; exit 3")
    assert res.returncode == 3, res.stderr
    assert res.stdout.replace("\0", " ").split() == ["/bin/sleep", "100"]
    ps = ctr("task", "ps", "c2")  # the shim asks `pyd-runc ps --format json`
    assert ps.returncode == 0 and len(ps.stdout.splitlines()) == 2, ps.stderr
    assert ctr("task", "pause", "c2").returncode == 0
    assert "PAUSED" in ctr("task", "ls").stdout
    assert ctr("task", "resume", "c2").returncode == 0
    assert "RUNNING" in ctr("task", "ls").stdout
    assert ctr("task", "kill", "-s", "9", "c2").returncode == 0
    deadline = time.monotonic() + 10
    while "STOPPED" not in ctr("task", "ls").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert ctr("task", "rm", "c2").returncode == 0
    assert ctr("container", "rm", "c2").returncode == 0
    assert not state.parent.exists()
    assert not (Path("/sys/fs/cgroup/memory") / ctr.ns / "c2").exists()


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_containerd_shim_terminal_through_pyd_runc(ctr):
    """`ctr run -t`: the shim hands pyd-runc a --console-socket and relays the pty."""
    cmd = (f"ctr --address {ctr.base}/c.sock -n {ctr.ns} run --rm -t --runc-binary "
           f"{PYD_RUNC} --rootfs {ctr.base}/rootfs c3 /bin/sh -c 'tty; exit 6'")
    res = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=30)
    out = res.stdout.replace(b"\0", b"").decode().replace("^@", "")
    assert "/dev/pts/0" in out.split(), (out, res.stderr)
    assert res.returncode == 6
