"""Upstream's `ctr` (Debian's containerd 1.6) reads and drives pyd-containerd's tasks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not shutil.which("ctr"), reason="needs Debian's ctr")]

sys.path.insert(0, str(Path(__file__).parent))
from test_tasks_service import NS, Containerd, rootfs, runtime_binary  # noqa: E402

__all__ = ["rootfs"]  # a fixture, used by name


def test_ctr_lists_inspects_and_kills_pyd_tasks(tmp_path: Path, rootfs: str) -> None:
    cd = Containerd(tmp_path, runtime_binary("runc"), rootfs)

    def ctr(*args: str) -> str:
        return subprocess.run(["ctr", "-a", cd.config.socket_path, "-n", "tasktest", *args],
                              capture_output=True, text=True, timeout=30, check=True).stdout

    try:
        cd.container("c1", ["sleep", "1000"])
        pid = cd.create("c1").pid
        cd.tasks.Start(pb.StartRequest(container_id="c1"), metadata=NS)
        assert f"c1      {pid}    RUNNING" in ctr("tasks", "ls")
        assert str(pid) in ctr("tasks", "ps", "c1")
        metrics = ctr("tasks", "metrics", "c1")
        assert "memory.usage_in_bytes" in metrics and "pids.current" in metrics
        ctr("tasks", "kill", "-s", "SIGKILL", "c1")
        cd.tasks.Wait(pb.WaitRequest(container_id="c1"), metadata=NS, timeout=30)
        assert "STOPPED" in ctr("tasks", "ls")
        ctr("tasks", "rm", "c1")
        assert "c1" not in ctr("tasks", "ls")
    finally:
        cd.close()
