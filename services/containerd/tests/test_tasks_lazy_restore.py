"""Lazy restore through the Tasks service: Create(checkpoint_dir, lazy_restore) + Start.

The path of DESIGN.md's start sketch below dockerd: pyd-containerd → pyd-shim →
`pyd-runc restore --lazy-pages --page-server ADDRESS` → criu lazy-pages, fetching
the memory from pyd's page server. The checkpoint is taken through the Tasks
service with Debian runc; the destination holds only a sparse local image. Root,
private roots and cgroup parent, cleaned up pass or fail.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from google.protobuf import any_pb2, struct_pb2

from pyd_proto.containerd.services.containers.v1 import containers_pb2
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_shim import testing

pytestmark = pytest.mark.root

sys.path.insert(0, str(Path(__file__).parent))
from test_tasks_service import NS, Containerd, rootfs, runtime_binary  # noqa: E402

__all__ = ["rootfs"]  # a fixture, used by name
COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"]


def test_lazy_restore_runs_the_task_before_its_memory_arrived(
        tmp_path: Path, rootfs: str, caplog: pytest.LogCaptureFixture) -> None:
    lazyimage = pytest.importorskip("pyd_runtime.criu.lazyimage")
    pageserver = pytest.importorskip("pyd_runtime.criu.pageserver")
    pyd_runc = runtime_binary("pyd-runc")
    cd = Containerd(tmp_path, runtime_binary("runc"), rootfs)
    caplog.set_level(logging.INFO, logger="pyd.containerd.tasks")
    try:
        out1, out2, image, local = (tmp_path / n for n in ("out1", "out2", "image", "local"))
        cd.container("lz", COUNTER)
        cd.create("lz", stdout=str(out1))
        cd.tasks.Start(pb.StartRequest(container_id="lz"), metadata=NS)
        testing.wait_for(lambda: out1.exists() and len(out1.read_text().split()) >= 5, 10)
        cd.tasks.Checkpoint(pb.CheckpointTaskRequest(container_id="lz", image_path=str(image)),
                            metadata=NS, timeout=120)
        cd.tasks.Wait(pb.WaitRequest(container_id="lz"), metadata=NS, timeout=30)
        cd.tasks.Delete(pb.DeleteTaskRequest(container_id="lz"), metadata=NS)
        last = int(out1.read_text().split()[-1])
        lazyimage.make_lazy_image(image, local)  # what a destination host holds

        # The same container, now run by pyd-runc (the container's runtime options).
        options = struct_pb2.Struct()
        options.update({"binary_name": pyd_runc})
        packed = any_pb2.Any()
        packed.Pack(options)
        spec = testing.spec(COUNTER, cgroups_path=f"/{cd.cgroup}/lz")
        cd.containers.Delete(containers_pb2.DeleteContainerRequest(id="lz"), metadata=NS)
        cd.containers.Create(containers_pb2.CreateContainerRequest(
            container=containers_pb2.Container(
                id="lz", runtime=containers_pb2.Container.Runtime(
                    name="io.containerd.runc.v2", options=packed),
                spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                                 value=json.dumps(spec).encode()))), metadata=NS)
        with pageserver.PageServer(image) as ps:
            host, port = ps.address
            lazy_restore = f"{host}:{port}"
            cd.create("lz", stdout=str(out2), checkpoint_dir=str(local),
                      lazy_restore=lazy_restore)
            cd.tasks.Start(pb.StartRequest(container_id="lz"), metadata=NS, timeout=120)
            got = cd.tasks.Get(pb.GetRequest(container_id="lz"), metadata=NS).process
            assert got.status == types.RUNNING
            testing.wait_for(lambda: out2.exists() and len(out2.read_text().split()) >= 3, 10)
            assert int(out2.read_text().split()[0]) == last + 1  # it went on, not over
            assert ps.stats.pages_sent > 0 and ps.stats.errors == 0
        # lazy_restore, logged under its one name at each hop
        assert any(getattr(r, "lazy_restore", "") == lazy_restore for r in caplog.records)
        shim_log = Path(cd.config.state, "io.containerd.runtime.v2.task", "tasktest", "lz",
                        "shim.log").read_text()
        assert shim_log.count(f"lazy_restore={lazy_restore}") >= 2  # Create, the runtime call
        cd.tasks.Kill(pb.KillRequest(container_id="lz", signal=9), metadata=NS)
        cd.tasks.Wait(pb.WaitRequest(container_id="lz"), metadata=NS, timeout=30)
        cd.tasks.Delete(pb.DeleteTaskRequest(container_id="lz"), metadata=NS)
    finally:
        cd.close()
        testing.runtime_cleanup(pyd_runc, str(tmp_path / "runc" / "tasktest"))
