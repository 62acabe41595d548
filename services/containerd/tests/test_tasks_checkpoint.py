"""Checkpoint and restore through the Tasks service, and `lazy_restore` reaching the runtime.

Root; real shims and runtimes (CRIU through runc, and through pyd-runc once its
`create` works), private roots and cgroup parent, cleaned up pass or fail.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import grpc
import pytest

from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_shim import testing

pytestmark = pytest.mark.root

# The fixtures of the Tasks service tests (tests run with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))
from test_tasks_service import NS, Containerd, rootfs, runtime_binary  # noqa: E402

__all__ = ["rootfs"]  # a fixture, used by name
COUNTER = ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"]


@pytest.fixture(params=["runc", "pyd-runc"])
def cd(request, tmp_path: Path, rootfs: str):
    c = Containerd(tmp_path, runtime_binary(request.param), rootfs)
    try:
        yield c
    finally:
        c.close()


def test_checkpoint_then_restore_continues_the_process(cd: Containerd) -> None:
    image = cd.tmp / "image"
    out1, out2 = cd.tmp / "out1", cd.tmp / "out2"
    cd.container("ck", COUNTER)
    cd.create("ck", stdout=str(out1))
    cd.tasks.Start(pb.StartRequest(container_id="ck"), metadata=NS)
    testing.wait_for(lambda: out1.exists() and len(out1.read_text().split()) >= 5, 10)
    try:
        cd.tasks.Checkpoint(pb.CheckpointTaskRequest(container_id="ck", image_path=str(image)),
                            metadata=NS, timeout=120)
    except grpc.RpcError as e:
        if "pyd-runc" in cd.binary:
            dump_log = next(Path(cd.config.state).glob(
                "io.containerd.runtime.v2.task/*/ck/criu-work/dump.log"), None)
            errors = [line for line in (dump_log.read_text().splitlines() if dump_log else [])
                      if "Error" in line and "rlimit" not in line]
            pytest.xfail(f"pyd-runc checkpoint (runc passes): {errors[:1] or e.details()}")  # type: ignore[attr-defined]
        raise
    assert (image / "inventory.img").exists()
    cd.tasks.Wait(pb.WaitRequest(container_id="ck"), metadata=NS, timeout=30)
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="ck"), metadata=NS)
    last = int(out1.read_text().split()[-1])

    cd.create("ck", stdout=str(out2), checkpoint_dir=str(image))
    got = cd.tasks.Get(pb.GetRequest(container_id="ck"), metadata=NS).process
    assert got.status == types.CREATED
    assert cd.tasks.Start(pb.StartRequest(container_id="ck"), metadata=NS, timeout=120).pid
    testing.wait_for(lambda: out2.exists() and len(out2.read_text().split()) >= 3, 10)
    assert int(out2.read_text().split()[0]) == last + 1
    got = cd.tasks.Get(pb.GetRequest(container_id="ck"), metadata=NS).process
    assert got.status == types.RUNNING
    cd.tasks.Kill(pb.KillRequest(container_id="ck", signal=9), metadata=NS)
    cd.tasks.Wait(pb.WaitRequest(container_id="ck"), metadata=NS, timeout=30)
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="ck"), metadata=NS)


def test_lazy_restore_reaches_the_runtime_command_line(tmp_path: Path, rootfs: str) -> None:
    # A runtime that records its argv and refuses to restore: enough to see the value
    # pyd start --lazy-restore would hand down arrive, under its one name, as criu's.
    argv_log = tmp_path / "argv.log"
    fake = tmp_path / "fake-runc"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {argv_log}\n"
                    "case \" $* \" in *' restore '*) exit 1;; esac\n"
                    f"exec {runtime_binary('runc')} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    cd = Containerd(tmp_path, str(fake), rootfs)
    try:
        image = tmp_path / "image"
        image.mkdir()
        cd.container("lz", COUNTER)
        cd.create("lz", checkpoint_dir=str(image), lazy_restore="10.1.2.3:27000")
        with pytest.raises(grpc.RpcError) as e:
            cd.tasks.Start(pb.StartRequest(container_id="lz"), metadata=NS)
        assert e.value.code() == grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
        restore = [line for line in argv_log.read_text().splitlines() if " restore " in line]
        assert len(restore) == 1
        assert "--lazy-pages --page-server 10.1.2.3:27000" in restore[0]
        assert f"--image-path {image}" in restore[0]
        shim_log = next(Path(cd.config.state).glob(
            "io.containerd.runtime.v2.task/tasktest/lz/shim.log")).read_text()
        assert "lazy_restore=10.1.2.3:27000" in shim_log
        with pytest.raises(grpc.RpcError) as e:
            cd.create("nolazy", lazy_restore="10.1.2.3:27000")
        assert e.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,  # type: ignore[attr-defined]
                                  grpc.StatusCode.NOT_FOUND)
        cd.tasks.Delete(pb.DeleteTaskRequest(container_id="lz"), metadata=NS)
    finally:
        cd.close()
