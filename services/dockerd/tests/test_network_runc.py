"""Real containers (run by the reference runc) in the namespaces and with the /etc
files the network controller prepares: two containers on a user network reach each
other by name, a `--network none` container has loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_dockerd.container.container import Container
from pyd_dockerd.daemon.oci import SpecOptions, build_spec
from pyd_dockerd.network.controller import NetworkController, NetworkOptions
from pyd_dockerd.store.containers import ContainerStore

RUNC = shutil.which("runc")
pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0 or RUNC is None or
                                 not os.path.exists("/bin/busybox"),
                                 reason="needs root, runc and busybox-static")]


class Runner:
    def __init__(self, tmp: Path, tag: str) -> None:
        self.tmp, self.tag = tmp, tag
        self.root = tmp / "runc"
        self.rootfs = tmp / "rootfs"
        (self.rootfs / "bin").mkdir(parents=True)
        shutil.copy("/bin/busybox", self.rootfs / "bin" / "busybox")
        for applet in ("sh", "sleep", "ping", "cat", "ip", "hostname"):
            os.symlink("busybox", self.rootfs / "bin" / applet)
        (self.rootfs / "etc").mkdir()
        self.ids: list[str] = []

    def runc(self, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(RUNC), "--root", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def run(self, c: Container, netns: str, mounts: list[dict[str, object]]) -> None:
        bundle = self.tmp / f"bundle-{c.name}"
        bundle.mkdir()
        spec = build_spec(SpecOptions(args=["sleep", "60"], hostname=c.hostname,
                                      network_ns=netns, extra_mounts=list(mounts),
                                      cgroups_path=f"/pyd-nettest-{self.tag}/{c.name}"),
                          rootfs=str(self.rootfs))
        spec["root"]["readonly"] = True
        # The hard RLIMIT_NOFILE of 1048576 cannot be raised here (no CAP_SYS_RESOURCE
        # above this sandbox's 20000): containers inherit the limits, as Docker's do.
        spec["process"].pop("rlimits", None)
        (bundle / "config.json").write_text(json.dumps(spec))
        cid = f"pydnet-{self.tag}-{c.name}"
        # The detached container inherits runc's stdio: a file, not a pipe to wait on.
        log = bundle / "stdio.log"
        with open(log, "w") as out:
            rc = subprocess.run([str(RUNC), "--root", str(self.root), "run", "-d",
                                 "--bundle", str(bundle), cid], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, timeout=20, check=False).returncode
        self.ids.append(cid)
        assert rc == 0, log.read_text()

    def exec(self, c: Container, *argv: str) -> subprocess.CompletedProcess[str]:
        return self.runc("exec", f"pydnet-{self.tag}-{c.name}", *argv)

    def cleanup(self) -> None:
        """runc delete -f; then SIGKILL whatever is still in this test's cgroups and
        remove them, children first (a failed `run` may leave both behind)."""
        for cid in self.ids:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.runc("delete", "-f", cid)
        tops = [f"/sys/fs/cgroup/{h}/pyd-nettest-{self.tag}" for h in
                os.listdir("/sys/fs/cgroup")]
        tops = [t for t in tops if os.path.isdir(t)]
        for top in tops:
            for dirpath, _dirs, files in os.walk(top):
                if "cgroup.procs" in files:
                    with contextlib.suppress(OSError):
                        for pid in Path(dirpath, "cgroup.procs").read_text().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 5
        for top in tops:
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                while True:
                    try:
                        os.rmdir(dirpath)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.05)


@pytest.fixture
def setup(engine: Engine, tmp_path: Path, private_netns: str,
          ) -> Iterator[tuple[NetworkController, ContainerStore, Runner]]:
    tag = uuid.uuid4().hex[:6]
    store = ContainerStore(engine, str(tmp_path / "containers"))
    ctl = NetworkController(engine, store, NetworkOptions(
        bridge_name=f"pr{tag}", bip="10.221.0.1/24", netns_dir=str(tmp_path / "netns")))
    ctl.init()
    runner = Runner(tmp_path, tag)
    try:
        yield ctl, store, runner
    finally:
        runner.cleanup()
        ctl.teardown()


def _start(ctl: NetworkController, store: ContainerStore, runner: Runner,
           c: Container) -> None:
    netns = ctl.create_sandbox(c)
    assert netns is not None
    ctl.attach(c, netns)
    runner.run(c, netns, ctl.etc_mounts(c))
    c.state.set_running(1)
    store.save(c)


def test_two_real_containers_on_a_user_network_reach_each_other_by_name(setup) -> None:
    ctl, store, runner = setup
    net = ctl.create_network(f"app-{runner.tag}", subnet="10.222.0.0/24")
    a = store.create(Container(id="", name=f"web-{runner.tag}",
                               host_config={"NetworkMode": net.name}))
    a.config["Hostname"] = "webhost"
    b = store.create(Container(id="", name=f"db-{runner.tag}",
                               host_config={"NetworkMode": net.name}))
    _start(ctl, store, runner, a)
    _start(ctl, store, runner, b)
    res = runner.exec(a, "ping", "-c", "1", "-W", "2", b.name)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "10.222.0." in res.stdout
    assert runner.exec(b, "ping", "-c", "1", "-W", "2", a.id[:12]).returncode == 0
    assert runner.exec(a, "hostname").stdout.strip() == "webhost"
    assert b.name in runner.exec(a, "cat", "/etc/hosts").stdout
    ctl.disconnect(net.name, b)  # a's running container sees b go away
    assert b.name not in runner.exec(a, "cat", "/etc/hosts").stdout


def test_real_container_with_network_none_has_loopback_only(setup) -> None:
    ctl, store, runner = setup
    c = store.create(Container(id="", name=f"iso-{runner.tag}",
                               host_config={"NetworkMode": "none"}))
    _start(ctl, store, runner, c)
    out = runner.exec(c, "ip", "-o", "link").stdout
    assert "lo:" in out and "eth0" not in out
