"""The Tasks service over a real socket (make_server in-process), real shims and runtimes.

Root. Each test has private roots and a private cgroup parent, and cleans up
its shims, containers, mounts and cgroups even when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2

from pyd_containerd.config import Config
from pyd_containerd.server import make_server
from pyd_proto import dial, typeurl
from pyd_proto.containerd.events import task_pb2 as task_events
from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from pyd_proto.containerd.services.events.v1 import events_pb2, events_pb2_grpc
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc
from pyd_proto.containerd.types import mount_pb2
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_shim import testing

pytestmark = pytest.mark.root
NS = (("containerd-namespace", "tasktest"),)
SPEC_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


def runtime_binary(name: str) -> str:
    if name == "pyd-runc":
        ok, why = testing.pyd_runc_create_works()
        if not ok:
            pytest.skip(why)
        return os.path.join(os.path.dirname(sys.executable), "pyd-runc")
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> str:
    return testing.busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


class Containerd:
    """An in-process pyd-containerd on a private root, and clients to it."""

    def __init__(self, tmp: Path, binary: str, rootfs: str, cgroup: str = "") -> None:
        self.tmp = tmp
        self.rootfs = rootfs
        self.binary = binary
        self.cgroup = cgroup or testing.unique("pyd-tasks-test")
        self.config = Config(root=str(tmp / "root"), state=str(tmp / "state"),
                             runtime_binary=binary, runtime_root=str(tmp / "runc"))
        self.daemon = make_server(self.config)
        self.daemon.start()
        self.channel = dial.channel(self.config.socket_path)
        self.tasks = tasks_pb2_grpc.TasksStub(self.channel)
        self.containers = containers_pb2_grpc.ContainersStub(self.channel)
        self.events_stub = events_pb2_grpc.EventsStub(self.channel)
        self.events: list[tuple[str, object]] = []
        self._stream = self.events_stub.Subscribe(
            events_pb2.SubscribeRequest(filters=['topic~="/tasks/"']), metadata=NS)
        self._reader = threading.Thread(target=self._read_events, daemon=True)
        self._reader.start()

    def _read_events(self) -> None:
        try:
            for env in self._stream:
                cls = getattr(task_events, env.event.type_url.rsplit(".", 1)[-1])
                msg = cls()
                typeurl.unmarshal(env.event, msg)
                self.events.append((env.topic, msg))
        except grpc.RpcError:
            pass

    def restart(self) -> None:
        """Stop the daemon (shims keep running) and build a new one on the same root."""
        self._stream.cancel()
        self.channel.close()
        self.daemon.stop(0)
        self.__init__(self.tmp, self.binary, self.rootfs, self.cgroup)  # type: ignore[misc]

    def container(self, id: str, args: list[str]) -> None:
        spec = testing.spec(args, cgroups_path=f"/{self.cgroup}/{id}")
        self.containers.Create(containers_pb2.CreateContainerRequest(
            container=containers_pb2.Container(
                id=id, runtime=containers_pb2.Container.Runtime(name="io.containerd.runc.v2"),
                spec=any_pb2.Any(type_url=SPEC_URL, value=json.dumps(spec).encode()))),
            metadata=NS)

    def create(self, id: str, **kw) -> pb.CreateTaskResponse:
        mount = mount_pb2.Mount(type="bind", source=self.rootfs, options=["rbind", "ro"])
        return self.tasks.Create(pb.CreateTaskRequest(container_id=id, rootfs=[mount], **kw),
                                 metadata=NS)

    def topics(self, id: str) -> list[str]:
        return [t for t, m in self.events if getattr(m, "container_id", "") == id]

    def close(self) -> None:
        self._stream.cancel()
        self.channel.close()
        self.daemon.stop(0)
        for bundle in Path(self.config.state).glob("io.containerd.runtime.v2.task/*/*"):
            testing.kill_shim(str(bundle))
        testing.kill_mentioning(str(self.tmp))
        for nsroot in Path(self.tmp / "runc").glob("*"):
            testing.runtime_cleanup(self.binary, str(nsroot))
        testing.unmount_under(str(self.tmp))
        testing.remove_cgroup(self.cgroup)


@pytest.fixture(params=["runc", "pyd-runc"])
def cd(request, tmp_path, rootfs) -> Iterator[Containerd]:
    c = Containerd(tmp_path, runtime_binary(request.param), rootfs)
    try:
        yield c
    finally:
        c.close()


def code(excinfo: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return excinfo.value.code()  # type: ignore[attr-defined, no-any-return]


def test_create_start_wait_delete(cd: Containerd) -> None:
    out = cd.tmp / "out.log"
    cd.container("t1", ["sh", "-c", "echo hi from the task; exit 5"])
    created = cd.create("t1", stdout=str(out))
    assert created.container_id == "t1" and created.pid > 0
    got = cd.tasks.Get(pb.GetRequest(container_id="t1"), metadata=NS).process
    assert got.status == types.CREATED and got.pid == created.pid
    assert cd.tasks.Start(pb.StartRequest(container_id="t1"), metadata=NS).pid == created.pid
    waited = cd.tasks.Wait(pb.WaitRequest(container_id="t1"), metadata=NS)
    assert waited.exit_status == 5
    assert out.read_text() == "hi from the task\n"
    listed = cd.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks
    assert [(t.id, t.status, t.exit_status) for t in listed] == [("t1", types.STOPPED, 5)]
    assert cd.tasks.List(pb.ListTasksRequest(filter="status==running"), metadata=NS).tasks == []
    assert len(cd.tasks.List(pb.ListTasksRequest(filter="id==t1"), metadata=NS).tasks) == 1
    deleted = cd.tasks.Delete(pb.DeleteTaskRequest(container_id="t1"), metadata=NS)
    assert deleted.exit_status == 5 and deleted.pid == created.pid
    with pytest.raises(grpc.RpcError) as e:
        cd.tasks.Get(pb.GetRequest(container_id="t1"), metadata=NS)
    assert code(e) == grpc.StatusCode.NOT_FOUND
    assert not Path(cd.config.state, "io.containerd.runtime.v2.task", "tasktest", "t1").exists()
    testing.wait_for(lambda: "/tasks/delete" in cd.topics("t1"), 10)
    assert cd.topics("t1") == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]


def test_running_task_operations_and_errors(cd: Containerd) -> None:
    with pytest.raises(grpc.RpcError) as e:
        cd.create("nope")
    assert code(e) == grpc.StatusCode.NOT_FOUND
    cd.container("t2", ["sleep", "1000"])
    pid = cd.create("t2").pid
    with pytest.raises(grpc.RpcError) as e:
        cd.create("t2")
    assert code(e) == grpc.StatusCode.ALREADY_EXISTS
    cd.tasks.Start(pb.StartRequest(container_id="t2"), metadata=NS)
    pids = cd.tasks.ListPids(pb.ListPidsRequest(container_id="t2"), metadata=NS).processes
    assert pid in [p.pid for p in pids]
    with pytest.raises(grpc.RpcError) as e:
        cd.tasks.Delete(pb.DeleteTaskRequest(container_id="t2"), metadata=NS)
    assert code(e) == grpc.StatusCode.FAILED_PRECONDITION
    spec = any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                       value=json.dumps({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"],
                                         "user": {"uid": 0, "gid": 0}}).encode())
    cd.tasks.Exec(pb.ExecProcessRequest(container_id="t2", exec_id="x", spec=spec),
                  metadata=NS)
    cd.tasks.Start(pb.StartRequest(container_id="t2", exec_id="x"), metadata=NS)
    assert cd.tasks.Wait(pb.WaitRequest(container_id="t2", exec_id="x"),
                         metadata=NS).exit_status == 0
    cd.tasks.DeleteProcess(pb.DeleteProcessRequest(container_id="t2", exec_id="x"),
                           metadata=NS)
    cd.tasks.Pause(pb.PauseTaskRequest(container_id="t2"), metadata=NS)
    assert cd.tasks.Get(pb.GetRequest(container_id="t2"),
                        metadata=NS).process.status == types.PAUSED
    cd.tasks.Resume(pb.ResumeTaskRequest(container_id="t2"), metadata=NS)
    resources = any_pb2.Any(
        type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        value=json.dumps({"memory": {"limit": 64 << 20}}).encode())
    cd.tasks.Update(pb.UpdateTaskRequest(container_id="t2", resources=resources), metadata=NS)
    memcg = Path(f"/sys/fs/cgroup/memory/{cd.cgroup}/t2/memory.limit_in_bytes")
    assert int(memcg.read_text()) == 64 << 20
    metrics = cd.tasks.Metrics(pb.MetricsRequest(filters=["id==t2"]), metadata=NS).metrics
    assert [m.id for m in metrics] == ["t2"]
    # sleep is the pid namespace's init: only SIGKILL ends it
    cd.tasks.Kill(pb.KillRequest(container_id="t2", signal=signal.SIGKILL), metadata=NS)
    assert cd.tasks.Wait(pb.WaitRequest(container_id="t2"), metadata=NS,
                         timeout=30).exit_status == 137
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="t2"), metadata=NS)


def test_shim_killed_with_sigkill_stops_its_task_with_an_event(cd: Containerd) -> None:
    for id in ("victim", "bystander"):
        cd.container(id, ["sleep", "1000"])
        cd.create(id)
        cd.tasks.Start(pb.StartRequest(container_id=id), metadata=NS)
    bundle = Path(cd.config.state, "io.containerd.runtime.v2.task", "tasktest", "victim")
    os.kill(int((bundle / "shim.pid").read_text()), signal.SIGKILL)
    waited = cd.tasks.Wait(pb.WaitRequest(container_id="victim"), metadata=NS, timeout=30)
    assert waited.exit_status == 137
    testing.wait_for(lambda: "/tasks/exit" in cd.topics("victim"), 10)
    tasks = {t.id: t for t in cd.tasks.List(pb.ListTasksRequest(), metadata=NS).tasks}
    assert tasks["victim"].status == types.STOPPED and tasks["victim"].exit_status == 137
    assert tasks["bystander"].status == types.RUNNING
    assert cd.tasks.Delete(pb.DeleteTaskRequest(container_id="victim"),
                           metadata=NS).exit_status == 137
    cd.tasks.Kill(pb.KillRequest(container_id="bystander", signal=9), metadata=NS)
    cd.tasks.Wait(pb.WaitRequest(container_id="bystander"), metadata=NS)
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="bystander"), metadata=NS)


def test_tasks_are_found_again_after_containerd_restarts(cd: Containerd) -> None:
    cd.container("r1", ["sleep", "1000"])
    pid = cd.create("r1").pid
    cd.tasks.Start(pb.StartRequest(container_id="r1"), metadata=NS)
    cd.restart()
    got = cd.tasks.Get(pb.GetRequest(container_id="r1"), metadata=NS).process
    assert (got.status, got.pid) == (types.RUNNING, pid)
    cd.tasks.Kill(pb.KillRequest(container_id="r1", signal=9), metadata=NS)
    assert cd.tasks.Wait(pb.WaitRequest(container_id="r1"), metadata=NS).exit_status == 137
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="r1"), metadata=NS)


def test_tasks_start_without_the_zygote(cd: Containerd) -> None:
    zygote = int(Path(cd.config.state, "shim-zygote.pid").read_text())
    os.kill(zygote, signal.SIGKILL)
    testing.wait_for(lambda: testing.process_gone(zygote), 5)
    cd.container("nz", ["sh", "-c", "exit 3"])
    cd.create("nz")
    cd.tasks.Start(pb.StartRequest(container_id="nz"), metadata=NS)
    assert cd.tasks.Wait(pb.WaitRequest(container_id="nz"), metadata=NS).exit_status == 3
    cd.tasks.Delete(pb.DeleteTaskRequest(container_id="nz"), metadata=NS)


def test_dead_shim_reports_the_exit_it_left_in_exit_json(cd: Containerd) -> None:
    cd.container("ex", ["sh", "-c", "exit 42"])
    cd.create("ex")
    cd.tasks.Start(pb.StartRequest(container_id="ex"), metadata=NS)
    assert cd.tasks.Wait(pb.WaitRequest(container_id="ex"), metadata=NS).exit_status == 42
    bundle = Path(cd.config.state, "io.containerd.runtime.v2.task", "tasktest", "ex")
    assert json.loads((bundle / "exit.json").read_text())["exit_status"] == 42
    os.kill(int((bundle / "shim.pid").read_text()), signal.SIGKILL)
    # containerd's /tasks/exit for the dead shim (the shim's own may die with it, unsent)
    testing.wait_for(lambda: "/tasks/exit" in cd.topics("ex"), 20)
    got = cd.tasks.Get(pb.GetRequest(container_id="ex"), metadata=NS).process
    assert (got.status, got.exit_status) == (types.STOPPED, 42), (got, cd.events)
    cd.restart()
    got = cd.tasks.Get(pb.GetRequest(container_id="ex"), metadata=NS).process
    assert (got.status, got.exit_status) == (types.STOPPED, 42), (got, sorted(
        p.name for p in bundle.iterdir()))
    assert cd.tasks.Delete(pb.DeleteTaskRequest(container_id="ex"),
                           metadata=NS).exit_status == 42
