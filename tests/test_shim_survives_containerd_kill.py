"""Tasks outlive pyd-containerd: kill -9 it with 5 tasks running, restart it, find them all.

pyd-containerd runs as a real subprocess on a private root; the tasks run
busybox through `pyd-shim` and the runtime (Debian's runc, and pyd-runc once its
`create` works). Then a shim is killed with -9: only its task is reported
stopped, with an event. Everything is cleaned up, pass or fail.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2

from pyd_proto import dial, typeurl
from pyd_proto.containerd.events import task_pb2 as task_events
from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from pyd_proto.containerd.services.events.v1 import events_pb2, events_pb2_grpc
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc
from pyd_proto.containerd.types import mount_pb2
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_shim import testing

pytestmark = [pytest.mark.root, pytest.mark.e2e]
NS = (("containerd-namespace", "survive"),)
BIN = Path(sys.executable).parent
RUNNING = [f"c{i}" for i in range(5)]


def runtime_binary(name: str) -> str:
    if name == "pyd-runc":
        ok, why = testing.pyd_runc_create_works()
        if not ok:
            pytest.skip(why)
        return str(BIN / "pyd-runc")
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


class Daemon:
    """pyd-containerd as a subprocess on a private root."""

    def __init__(self, tmp: Path, runtime: str) -> None:
        self.tmp = tmp
        self.runtime = runtime
        self.socket = tmp / "cd.sock"
        self.state = tmp / "state"
        self.runc_root = tmp / "runc"
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None

    def start(self) -> None:
        log = open(self.tmp / "containerd.log", "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "pyd-containerd"), "--root", str(self.tmp / "root"), "--state",
             str(self.state), "--address", str(self.socket), "--runtime-binary", self.runtime,
             "--runtime-root", str(self.runc_root)], stdout=log, stderr=log)
        log.close()
        self.channel = dial.channel(str(self.socket))
        grpc.channel_ready_future(self.channel).result(timeout=30)
        # Serving gRPC means make_server finished, reconnecting to the shims included.

    @property
    def tasks(self) -> tasks_pb2_grpc.TasksStub:
        assert self.channel is not None
        return tasks_pb2_grpc.TasksStub(self.channel)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def bundles(self) -> list[Path]:
        return sorted(self.state.glob("io.containerd.runtime.v2.task/*/*"))


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> str:
    return testing.busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


@pytest.fixture(params=["runc", "pyd-runc"])
def daemon(request, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path, runtime_binary(request.param))
    cgroup = testing.unique("pyd-survive")
    d.cgroup = cgroup  # type: ignore[attr-defined]
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(10)
        if d.channel is not None:
            d.channel.close()
        for b in d.bundles():
            testing.kill_shim(str(b))
        testing.kill_mentioning(str(tmp_path))
        for ns_root in d.runc_root.glob("*"):
            testing.runtime_cleanup(d.runtime, str(ns_root))
        testing.unmount_under(str(tmp_path))
        testing.remove_cgroup(cgroup)


def make_task(d: Daemon, rootfs: str, id: str, args: list[str]) -> int:
    assert d.channel is not None
    spec = testing.spec(args, cgroups_path=f"/{d.cgroup}/{id}")  # type: ignore[attr-defined]
    containers_pb2_grpc.ContainersStub(d.channel).Create(containers_pb2.CreateContainerRequest(
        container=containers_pb2.Container(
            id=id, runtime=containers_pb2.Container.Runtime(name="io.containerd.runc.v2"),
            spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                             value=json.dumps(spec).encode()))), metadata=NS)
    mount = mount_pb2.Mount(type="bind", source=rootfs, options=["rbind", "ro"])
    pid = d.tasks.Create(pb.CreateTaskRequest(container_id=id, rootfs=[mount]),
                         metadata=NS).pid
    d.tasks.Start(pb.StartRequest(container_id=id), metadata=NS)
    return pid


def test_shim_survives_containerd_kill(daemon: Daemon, rootfs: str) -> None:
    d = daemon
    d.start()
    stop_file = Path(rootfs, "tmp", f"stop-{os.getpid()}-{d.tmp.name}")
    pids = {id: make_task(d, rootfs, id, ["sleep", "1000"]) for id in RUNNING}
    pids["exiter"] = make_task(d, rootfs, "exiter", [
        "sh", "-c", f"while [ ! -e /tmp/{stop_file.name} ]; do sleep 0.05; done; exit 42"])

    d.kill9()
    # containerd is gone; the tasks are not, and one of them finishes meanwhile.
    for id, pid in pids.items():
        assert os.path.exists(f"/proc/{pid}"), id
    stop_file.touch()
    try:
        testing.wait_for(lambda: testing.process_gone(pids["exiter"]), 10)
    finally:
        stop_file.unlink()

    d.start()
    listed = {t.id: t for t in d.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks}
    assert set(listed) == {*RUNNING, "exiter"}
    for id in RUNNING:
        assert (listed[id].status, listed[id].pid) == (types.RUNNING, pids[id]), id
    assert (listed["exiter"].status, listed["exiter"].exit_status) == (types.STOPPED, 42)
    assert d.tasks.Wait(pb.WaitRequest(container_id="exiter"), metadata=NS).exit_status == 42

    # A shim killed with -9: its task is reported stopped, with an event; others go on.
    assert d.channel is not None
    got: list[task_events.TaskExit] = []
    stream = events_pb2_grpc.EventsStub(d.channel).Subscribe(
        events_pb2.SubscribeRequest(filters=['topic=="/tasks/exit"']), metadata=NS)

    def read() -> None:
        try:
            for env in stream:
                ev = task_events.TaskExit()
                typeurl.unmarshal(env.event, ev)
                got.append(ev)
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.2)  # the subscription is registered before the shim dies
    victim = d.state / "io.containerd.runtime.v2.task" / "survive" / "c0"
    os.kill(int((victim / "shim.pid").read_text()), signal.SIGKILL)
    try:
        testing.wait_for(lambda: any(e.container_id == "c0" for e in got), 15)
    finally:
        stream.cancel()  # type: ignore[no-untyped-call]
    assert next(e for e in got if e.container_id == "c0").exit_status == 137
    listed = {t.id: t for t in d.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks}
    assert (listed["c0"].status, listed["c0"].exit_status) == (types.STOPPED, 137)
    testing.wait_for(lambda: testing.process_gone(pids["c0"]), 10)  # cleanup killed it
    for id in RUNNING[1:]:
        assert (listed[id].status, listed[id].pid) == (types.RUNNING, pids[id]), id

    # And the dead shim's task keeps its status across another containerd restart.
    d.kill9()
    d.start()
    got_c0 = d.tasks.Get(pb.GetRequest(container_id="c0"), metadata=NS).process
    assert (got_c0.status, got_c0.exit_status) == (types.STOPPED, 137)
    for id in [*RUNNING, "exiter"]:
        if id not in ("c0", "exiter"):
            d.tasks.Kill(pb.KillRequest(container_id=id, signal=9), metadata=NS)
            d.tasks.Wait(pb.WaitRequest(container_id=id), metadata=NS, timeout=30)
        d.tasks.Delete(pb.DeleteTaskRequest(container_id=id), metadata=NS)
    assert d.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks == []
    assert d.bundles() == []
