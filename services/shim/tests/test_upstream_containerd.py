"""Upstream containerd (Debian's 1.6) drives pyd-shim: the Task API and ttrpc are upstream's.

`ctr run --runtime io.containerd.pyd.v2` makes containerd start
`containerd-shim-pyd-v2` (here a two-line wrapper around pyd-shim) exactly as it
starts its own shims, talk ttrpc to it, and read the container's output from the
fifos it hands over. The runtime is pyd-shim's default, pyd-runc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyd_shim import testing

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not shutil.which("containerd") or not shutil.which("ctr"),
                       reason="needs Debian's containerd and ctr"),
]


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Path]:
    ok, why = testing.pyd_runc_create_works()
    if not ok:
        pytest.skip(why)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "containerd-shim-pyd-v2"
    wrapper.write_text(f"#!/bin/sh\nexec {Path(sys.executable).parent / 'pyd-shim'} \"$@\"\n")
    wrapper.chmod(0o755)
    sock = tmp_path / "c.sock"
    (tmp_path / "config.toml").write_text(f"""version = 2
root = "{tmp_path}/root"
state = "{tmp_path}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
""")
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    with open(tmp_path / "containerd.log", "wb") as log:
        proc = subprocess.Popen(["containerd", "--config", str(tmp_path / "config.toml")],
                                stdout=log, stderr=log, env=env)
    try:
        testing.wait_for(lambda: subprocess.run(["ctr", "-a", str(sock), "version"],
                                                capture_output=True).returncode == 0, 15)
        yield sock
    finally:
        proc.terminate()
        proc.wait(15)
        for bundle in tmp_path.glob("state/io.containerd.runtime.v2.task/*/*"):
            testing.kill_shim(str(bundle))
        for root in tmp_path.glob("state/io.containerd.runtime.v2.task/*"):
            runc_root = f"/run/pyd/runc/{root.name}"  # pyd-shim's default --root
            testing.runtime_cleanup(str(Path(sys.executable).parent / "pyd-runc"), runc_root)
            shutil.rmtree(runc_root, ignore_errors=True)
        testing.unmount_under(str(tmp_path))


def test_upstream_containerd_runs_a_container_through_pyd_shim(upstream: Path,
                                                               tmp_path: Path) -> None:
    rootfs = testing.busybox_rootfs(str(tmp_path / "rootfs"))
    cgroup = testing.unique("pyd-upstream")
    ns = f"pydshim{os.getpid()}"
    try:
        t = time.monotonic()
        out = subprocess.run(
            ["ctr", "-a", str(upstream), "-n", ns, "run", "--rootfs", "--runtime",
             "io.containerd.pyd.v2", "--env", "PATH=/bin", "--cgroup", f"/{cgroup}/u1",
             rootfs, "u1", "sh", "-c", "echo hello from pyd-shim; exit 3"],
            capture_output=True, text=True, timeout=60)
        assert out.returncode == 3, out.stderr
        assert out.stdout == "hello from pyd-shim\n"
        assert time.monotonic() - t < 30
        listed = subprocess.run(["ctr", "-a", str(upstream), "-n", ns, "tasks", "ls"],
                                capture_output=True, text=True, check=True).stdout
        assert "u1" not in listed  # deleted, its shim gone
    finally:
        subprocess.run(["ctr", "-a", str(upstream), "-n", ns, "containers", "rm", "u1"],
                       capture_output=True, check=False)
        testing.remove_cgroup(cgroup)
