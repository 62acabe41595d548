"""A real shim (`pyd-shim start`) on a busybox bundle, driving Debian's `runc` and `pyd-runc`.

Root; every test cleans up its shims, containers and cgroups even when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest
from google.protobuf import any_pb2, empty_pb2

from pyd_proto import typeurl
from pyd_proto.containerd.events import task_pb2 as events
from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
from pyd_proto.containerd.services.events.v1 import events_pb2
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_proto.errdefs import FailedPrecondition, NotFound, PydError
from pyd_shim import cgroups, testing, ttrpc

pytestmark = pytest.mark.root
SERVICE = "containerd.task.v2.Task"
SHIM = os.path.join(os.path.dirname(sys.executable), "pyd-shim")


def _runtime_binary(name: str) -> str:
    if name == "pyd-runc":
        ok, why = testing.pyd_runc_create_works()
        if not ok:
            pytest.skip(why)
        return shutil.which("pyd-runc") or os.path.join(os.path.dirname(sys.executable),
                                                        "pyd-runc")
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    return testing.busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


class Env:
    """Shims of one test, a fake containerd collecting their events, and cleanup."""

    def __init__(self, tmp: str, binary: str, rootfs: str) -> None:
        self.tmp = tmp
        self.binary = binary
        self.rootfs = rootfs
        self.root = os.path.join(tmp, "runc")
        self.cgroup = testing.unique("pyd-shim-test")
        self.containerd = os.path.join(tmp, "cd.sock")
        self.events: list[tuple[str, object]] = []
        self.events_server = ttrpc.Server()
        self.events_server.register("containerd.services.events.ttrpc.v1.Events", "Forward",
                                    events_pb2.ForwardRequest, self._forward)
        listener = ttrpc.listen(self.containerd + ".ttrpc")
        threading.Thread(target=self.events_server.serve, args=(listener,),
                         daemon=True).start()
        self.bundles: list[str] = []
        self.clients: list[ttrpc.Client] = []

    def _forward(self, req: events_pb2.ForwardRequest, call: ttrpc.Call) -> empty_pb2.Empty:
        name = req.envelope.event.type_url.rsplit("/", 1)[-1]
        cls = getattr(events, name.rsplit(".", 1)[-1])
        msg = cls()
        assert typeurl.unmarshal(req.envelope.event, msg)
        self.events.append((req.envelope.topic, msg))
        return empty_pb2.Empty()

    def shim(self, id: str, args: list[str], *, terminal: bool = False) -> tuple[ttrpc.Client,
                                                                                  str]:
        bundle = testing.bundle(os.path.join(self.tmp, id), args, rootfs_from=self.rootfs,
                                cgroups_path=f"/{self.cgroup}/{id}", terminal=terminal)
        self.bundles.append(bundle)
        with open(os.path.join(bundle, "options.json"), "w") as f:
            json.dump({"binary_name": self.binary, "root": self.root}, f)
        out = subprocess.run([SHIM, "-namespace", "testns", "-id", id, "-address",
                              self.containerd, "start"], cwd=bundle, capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        client = ttrpc.Client(out.stdout.strip())
        self.clients.append(client)
        return client, bundle

    def topics(self, id: str) -> list[str]:
        return [t for t, m in self.events if getattr(m, "container_id", "") == id]

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for b in self.bundles:
            testing.kill_shim(b)
        testing.kill_mentioning(self.tmp)
        testing.runtime_cleanup(self.binary, self.root)
        testing.unmount_under(self.tmp)
        testing.remove_cgroup(self.cgroup)
        self.events_server.close()


@pytest.fixture(params=["runc", "pyd-runc"])
def env(request, tmp_path, rootfs):
    e = Env(str(tmp_path), _runtime_binary(request.param), rootfs)
    try:
        yield e
    finally:
        e.close()


def call(client: ttrpc.Client, method: str, req, resp=None, timeout: float = 30):
    return client.call(SERVICE, method, req, resp if resp is not None else empty_pb2.Empty(),
                       timeout=timeout)


def test_init_exit_status_output_exit_file_and_events(env):
    out, err = os.path.join(env.tmp, "out.log"), os.path.join(env.tmp, "err.log")
    c, bundle = env.shim("c1", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    created = call(c, "Create", pb.CreateTaskRequest(id="c1", bundle=bundle, stdout=out,
                                                     stderr="file://" + err),
                   pb.CreateTaskResponse())
    assert created.pid > 0
    st = call(c, "State", pb.StateRequest(id="c1"), pb.StateResponse())
    assert st.status == types.CREATED and st.pid == created.pid
    assert call(c, "Start", pb.StartRequest(id="c1"), pb.StartResponse()).pid == created.pid
    waited = call(c, "Wait", pb.WaitRequest(id="c1"), pb.WaitResponse())
    assert waited.exit_status == 7 and waited.exited_at.seconds > 0
    assert open(out).read() == "out\n" and open(err).read() == "err\n"
    with open(os.path.join(bundle, "exit.json")) as f:
        assert json.load(f)["exit_status"] == 7
    st = call(c, "State", pb.StateRequest(id="c1"), pb.StateResponse())
    assert st.status == types.STOPPED and st.exit_status == 7
    deleted = call(c, "Delete", pb.DeleteRequest(id="c1"), pb.DeleteResponse())
    assert deleted.exit_status == 7 and deleted.pid == created.pid
    shim_pid = int(open(os.path.join(bundle, "shim.pid")).read())
    call(c, "Shutdown", pb.ShutdownRequest(id="c1"))
    testing.wait_for(lambda: not os.path.exists(f"/proc/{shim_pid}"), 10)
    testing.wait_for(lambda: "/tasks/delete" in env.topics("c1"), 10)
    assert env.topics("c1") == ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]
    exit_event = next(m for t, m in env.events if t == "/tasks/exit")
    assert exit_event.exit_status == 7 and exit_event.pid == created.pid


def test_shim_runs_detached_in_its_own_session(env):
    c, _bundle = env.shim("c2", ["sleep", "1000"])
    conn = call(c, "Connect", pb.ConnectRequest(id="c2"), pb.ConnectResponse())
    assert os.getsid(conn.shim_pid) == conn.shim_pid
    with open(f"/proc/{conn.shim_pid}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[1]) != os.getpid()
    with pytest.raises(NotFound):
        call(c, "State", pb.StateRequest(id="c2"), pb.StateResponse())


def test_kill_pids_exec_pause_resume(env):
    c, bundle = env.shim("c3", ["sleep", "1000"])
    pid = call(c, "Create", pb.CreateTaskRequest(id="c3", bundle=bundle),
               pb.CreateTaskResponse()).pid
    call(c, "Start", pb.StartRequest(id="c3"), pb.StartResponse())
    pids = call(c, "Pids", pb.PidsRequest(id="c3"), pb.PidsResponse())
    assert pid in [p.pid for p in pids.processes]
    exec_out = os.path.join(env.tmp, "exec.log")
    spec = any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                       value=json.dumps({"args": ["sh", "-c", "echo in-container; exit 3"],
                                         "cwd": "/", "env": ["PATH=/bin"],
                                         "user": {"uid": 0, "gid": 0}}).encode())
    call(c, "Exec", pb.ExecProcessRequest(id="c3", exec_id="e1", stdout=exec_out, spec=spec))
    assert call(c, "Start", pb.StartRequest(id="c3", exec_id="e1"), pb.StartResponse()).pid
    assert call(c, "Wait", pb.WaitRequest(id="c3", exec_id="e1"),
                pb.WaitResponse()).exit_status == 3
    assert open(exec_out).read() == "in-container\n"
    assert call(c, "Delete", pb.DeleteRequest(id="c3", exec_id="e1"),
                pb.DeleteResponse()).exit_status == 3
    call(c, "Pause", pb.PauseRequest(id="c3"))
    assert call(c, "State", pb.StateRequest(id="c3"), pb.StateResponse()).status == types.PAUSED
    with pytest.raises(FailedPrecondition):
        call(c, "Exec", pb.ExecProcessRequest(id="c3", exec_id="e2", spec=spec))
    call(c, "Resume", pb.ResumeRequest(id="c3"))
    assert call(c, "State", pb.StateRequest(id="c3"), pb.StateResponse()).status == types.RUNNING
    stats = call(c, "Stats", pb.StatsRequest(id="c3"), pb.StatsResponse())
    assert stats.stats.type_url == "io.containerd.cgroups.v1.Metrics"
    figures = cgroups.decode_v1(stats.stats.value)
    assert figures["memory.usage"] > 0 and figures["pids.current"] >= 1
    with pytest.raises(FailedPrecondition):
        call(c, "Delete", pb.DeleteRequest(id="c3"), pb.DeleteResponse())
    call(c, "Kill", pb.KillRequest(id="c3", signal=signal.SIGKILL))
    assert call(c, "Wait", pb.WaitRequest(id="c3"), pb.WaitResponse()).exit_status == 137
    call(c, "Delete", pb.DeleteRequest(id="c3"), pb.DeleteResponse())
    assert "/tasks/exec-started" in env.topics("c3") or testing.wait_for(
        lambda: "/tasks/exec-started" in env.topics("c3"), 5)


def test_terminal_gets_a_pty_that_resizes(env):
    out = os.path.join(env.tmp, "tty.log")
    c, bundle = env.shim("c4", ["sh", "-c", "sleep 0.3; stty size; tty"], terminal=True)
    try:
        call(c, "Create", pb.CreateTaskRequest(id="c4", bundle=bundle, terminal=True,
                                               stdout=out), pb.CreateTaskResponse())
    except PydError as e:
        if env.binary.endswith("pyd-runc") and "termios" in str(e):
            pytest.xfail(f"pyd-runc's console (its bug, reported to the lead): {e}")
        raise
    call(c, "ResizePty", pb.ResizePtyRequest(id="c4", width=100, height=30))
    call(c, "Start", pb.StartRequest(id="c4"), pb.StartResponse())
    assert call(c, "Wait", pb.WaitRequest(id="c4"), pb.WaitResponse()).exit_status == 0
    text = testing.wait_for(lambda: os.path.exists(out) and "pts" in open(out).read()
                            and open(out).read(), 5)
    assert "30 100" in text and "/dev/pts/" in text


def test_stdin_fifo_and_close_io(env):
    fifo = os.path.join(env.tmp, "stdin")
    os.mkfifo(fifo)
    out = os.path.join(env.tmp, "cat.log")
    c, bundle = env.shim("c5", ["cat"])
    call(c, "Create", pb.CreateTaskRequest(id="c5", bundle=bundle, stdin=fifo, stdout=out),
         pb.CreateTaskResponse())
    call(c, "Start", pb.StartRequest(id="c5"), pb.StartResponse())
    writer = os.open(fifo, os.O_WRONLY)  # blocks until the shim opened its end
    try:
        os.write(writer, b"hello through the fifo\n")
        testing.wait_for(lambda: os.path.exists(out) and open(out).read(), 5)
        # The client still holds the fifo open; CloseIO alone must give cat its EOF.
        call(c, "CloseIO", pb.CloseIORequest(id="c5", stdin=True))
        assert call(c, "Wait", pb.WaitRequest(id="c5"), pb.WaitResponse(),
                    timeout=10).exit_status == 0
    finally:
        os.close(writer)
    assert open(out).read() == "hello through the fifo\n"


def test_delete_cleans_up_after_a_shim_killed_with_sigkill(env):
    c, bundle = env.shim("c6", ["sleep", "1000"])
    pid = call(c, "Create", pb.CreateTaskRequest(id="c6", bundle=bundle),
               pb.CreateTaskResponse()).pid
    call(c, "Start", pb.StartRequest(id="c6"), pb.StartResponse())
    shim_pid = int(open(os.path.join(bundle, "shim.pid")).read())
    os.kill(shim_pid, signal.SIGKILL)
    testing.wait_for(lambda: c.closed, 5)
    assert os.path.exists(f"/proc/{pid}")  # the container outlives its shim ...
    out = subprocess.run([SHIM, "-namespace", "testns", "-id", "c6", "-address",
                          env.containerd, "delete"], cwd=bundle, capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    resp = pb.DeleteResponse()
    resp.ParseFromString(out.stdout)
    assert resp.exit_status == 137 and resp.pid == pid
    # ... until `pyd-shim delete` force-deletes it.
    testing.wait_for(lambda: testing.process_gone(pid), 10)
    assert subprocess.run([env.binary, "--root", env.root, "state", "c6"],
                          capture_output=True).returncode != 0


def test_start_reports_an_already_running_shim(env):
    c, bundle = env.shim("c7", ["true"])
    again = subprocess.run([SHIM, "-namespace", "testns", "-id", "c7", "-address",
                            env.containerd, "start"], cwd=bundle, capture_output=True,
                           text=True, timeout=30)
    assert again.returncode == 0 and again.stdout.strip() == c.address


def test_call_subcommand_inspects_a_shim(env):
    c, bundle = env.shim("c8", ["sleep", "1000"])
    call(c, "Create", pb.CreateTaskRequest(id="c8", bundle=bundle), pb.CreateTaskResponse())

    def shim_call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SHIM, "-address", c.address, "call", *args],
                              capture_output=True, text=True, timeout=30)

    assert "State" in shim_call().stdout
    state = json.loads(shim_call("State", '{"id": "c8"}').stdout)
    assert state["status"] == "CREATED" and state["pid"] > 0
    missing = shim_call("State", '{"id": "c8", "exec_id": "nope"}')
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr



def test_exec_with_a_terminal(env):
    c, bundle = env.shim("c9", ["sleep", "1000"])
    call(c, "Create", pb.CreateTaskRequest(id="c9", bundle=bundle), pb.CreateTaskResponse())
    call(c, "Start", pb.StartRequest(id="c9"), pb.StartResponse())
    out = os.path.join(env.tmp, "exec-tty.log")
    spec = any_pb2.Any(value=json.dumps({
        "args": ["sh", "-c", "sleep 0.5; stty size"], "cwd": "/", "env": ["PATH=/bin"],
        "terminal": True, "user": {"uid": 0, "gid": 0}}).encode())
    call(c, "Exec", pb.ExecProcessRequest(id="c9", exec_id="t", terminal=True, stdout=out,
                                          spec=spec))
    try:
        call(c, "Start", pb.StartRequest(id="c9", exec_id="t"), pb.StartResponse())
    except PydError as e:
        if env.binary.endswith("pyd-runc"):
            pytest.xfail(f"pyd-runc exec with a console: {e}")
        raise
    call(c, "ResizePty", pb.ResizePtyRequest(id="c9", exec_id="t", width=120, height=40))
    assert call(c, "Wait", pb.WaitRequest(id="c9", exec_id="t"), pb.WaitResponse()).exit_status == 0
    assert "40 120" in testing.wait_for(lambda: os.path.exists(out) and open(out).read(), 5)
    call(c, "Kill", pb.KillRequest(id="c9", signal=9))


def test_oom_is_reported(env):
    c, bundle = env.shim("c10", ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a)"])
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    with open(path, "w") as f:
        json.dump(spec, f)
    call(c, "Create", pb.CreateTaskRequest(id="c10", bundle=bundle), pb.CreateTaskResponse())
    call(c, "Start", pb.StartRequest(id="c10"), pb.StartResponse())
    assert call(c, "Wait", pb.WaitRequest(id="c10"), pb.WaitResponse()).exit_status == 137
    testing.wait_for(lambda: "/tasks/oom" in env.topics("c10"), 10)
