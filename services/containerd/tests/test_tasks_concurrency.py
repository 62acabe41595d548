"""20 tasks created and started in parallel through one pyd-containerd all run.

Root; real shims (forked from the zygote), Debian runc; cleaned up pass or fail.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.types.task import task_pb2 as types

pytestmark = pytest.mark.root

sys.path.insert(0, str(Path(__file__).parent))
from test_tasks_service import NS, Containerd, rootfs, runtime_binary  # noqa: E402

__all__ = ["rootfs"]  # a fixture, used by name
N = 20


def test_twenty_tasks_created_and_started_in_parallel_all_run(tmp_path: Path,
                                                              rootfs: str) -> None:
    cd = Containerd(tmp_path, runtime_binary("runc"), rootfs)
    try:
        ids = [f"p{i}" for i in range(N)]

        def create_and_start(id: str) -> int:
            cd.container(id, ["sleep", "1000"])
            pid = cd.create(id).pid
            cd.tasks.Start(pb.StartRequest(container_id=id), metadata=NS, timeout=60)
            return pid

        with ThreadPoolExecutor(N) as pool:
            pids = dict(zip(ids, pool.map(create_and_start, ids), strict=True))
        listed = {t.id: t for t in cd.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks}
        assert sorted(listed) == sorted(ids)
        for id in ids:
            assert (listed[id].status, listed[id].pid) == (types.RUNNING, pids[id]), id
        assert len(set(pids.values())) == N

        def stop(id: str) -> int:
            cd.tasks.Kill(pb.KillRequest(container_id=id, signal=9), metadata=NS)
            status = cd.tasks.Wait(pb.WaitRequest(container_id=id), metadata=NS,
                                   timeout=60).exit_status
            cd.tasks.Delete(pb.DeleteTaskRequest(container_id=id), metadata=NS, timeout=60)
            return status

        with ThreadPoolExecutor(N) as pool:
            assert list(pool.map(stop, ids)) == [137] * N
        assert cd.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks == []
    finally:
        cd.close()
