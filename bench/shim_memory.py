"""shim.memory: proportional set size (sum of Pss in /proc/PID/smaps_rollup) of one idle
shim holding a running `sleep` task, target ≤ 15 MiB.

pyd's shim is started by a real pyd-containerd (Debian runc as the runtime), as in
use: forked from containerd's shim zygote, so it shares the zygote's pages (the
zygote's own PSS, a fixed cost per containerd whatever the number of shims, is the
figure shim.memory.zygote). shim.memory.start is a shim started the fallback way,
`pyd-shim start`, with no zygote. The reference is Debian's containerd-shim-runc-v2
started as containerd starts it (`start` in the bundle, a `log` fifo read by us,
TTRPC_ADDRESS set), its task created and started over ttrpc by pyd's own ttrpc
client. shim.memory.grpc serves the same Task service with grpcio instead of ttrpc: the
road not taken (services/shim/README.md).

    .venv/bin/python -m bench.shim_memory
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

UNIT = "MiB"
REFERENCE = "containerd-shim-runc-v2 (Debian containerd 1.6), idle with a task"
BIN = Path(sys.executable).parent
RUNC = shutil.which("runc") or "/usr/sbin/runc"
UPSTREAM = shutil.which("containerd-shim-runc-v2") or ""
NS = (("containerd-namespace", "bench"),)
SETTLE = 2.0


def _pss_mib(pid: int) -> float:
    from pyd_shim import testing

    return testing.pss_kib(pid) / 1024


def _pyd(base: Path, rootfs: str, cgroup: str) -> tuple[float, float, float]:
    """(shim forked by containerd's zygote, the zygote itself, a shim from `pyd-shim start`
    beside them), MiB."""
    import grpc
    from google.protobuf import any_pb2

    from pyd_proto import dial
    from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
    from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
    from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc
    from pyd_proto.containerd.types import mount_pb2
    from pyd_shim import testing

    sock = base / "cd.sock"
    log = open(base / "containerd.log", "wb")
    daemon = subprocess.Popen(
        [str(BIN / "pyd-containerd"), "--root", str(base / "root"), "--state",
         str(base / "state"), "--address", str(sock), "--runtime-binary", RUNC,
         "--runtime-root", str(base / "runc")], stdout=log, stderr=log)
    channel = dial.channel(str(sock))
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        spec = testing.spec(["sleep", "100000"], cgroups_path=f"/{cgroup}/pyd")
        containers_pb2_grpc.ContainersStub(channel).Create(
            containers_pb2.CreateContainerRequest(container=containers_pb2.Container(
                id="pyd", runtime=containers_pb2.Container.Runtime(name="io.containerd.runc.v2"),
                spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                                 value=json.dumps(spec).encode()))), metadata=NS)
        tasks = tasks_pb2_grpc.TasksStub(channel)
        mount = mount_pb2.Mount(type="bind", source=rootfs, options=["rbind", "ro"])
        tasks.Create(pb.CreateTaskRequest(container_id="pyd", rootfs=[mount]), metadata=NS)
        tasks.Start(pb.StartRequest(container_id="pyd"), metadata=NS)
        tasks.Get(pb.GetRequest(container_id="pyd"), metadata=NS)
        direct = _pyd_start(base, rootfs, cgroup)
        time.sleep(SETTLE)
        pidfile = base / "state" / "io.containerd.runtime.v2.task" / "bench" / "pyd" / "shim.pid"
        zygote = int((base / "state" / "shim-zygote.pid").read_text())
        return _pss_mib(int(pidfile.read_text())), _pss_mib(zygote), direct
    finally:
        channel.close()
        daemon.kill()
        daemon.wait(10)
        log.close()
        for bundle in base.glob("state/io.containerd.runtime.v2.task/*/*"):
            testing.kill_shim(str(bundle))
        for root in base.glob("runc/*"):
            testing.runtime_cleanup(RUNC, str(root))


def _pyd_start(base: Path, rootfs: str, cgroup: str) -> float:
    """A shim started the fallback way, `pyd-shim start` (own interpreter, no zygote)."""
    from google.protobuf import empty_pb2

    from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
    from pyd_shim import testing, ttrpc

    bundle = base / "direct"
    bundle.mkdir()
    spec = testing.spec(["sleep", "100000"], cgroups_path=f"/{cgroup}/direct")
    spec["root"]["path"] = rootfs
    (bundle / "config.json").write_text(json.dumps(spec))
    (bundle / "options.json").write_text(json.dumps({"binary_name": RUNC,
                                                     "root": str(base / "runc-direct")}))
    out = subprocess.run([str(BIN / "pyd-shim"), "-namespace", "bench", "-id", "direct",
                          "-address", str(base / "cd.sock"), "start"], cwd=bundle,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "MALLOC_ARENA_MAX": "1"})
    client = ttrpc.Client(out.stdout.strip())
    svc = "containerd.task.v2.Task"
    try:
        client.call(svc, "Create", pb.CreateTaskRequest(id="direct", bundle=str(bundle)),
                    pb.CreateTaskResponse(), timeout=30)
        client.call(svc, "Start", pb.StartRequest(id="direct"), pb.StartResponse())
        time.sleep(SETTLE)
        return _pss_mib(int((bundle / "shim.pid").read_text()))
    finally:
        client.call(svc, "Kill", pb.KillRequest(id="direct", signal=9), empty_pb2.Empty())
        client.call(svc, "Wait", pb.WaitRequest(id="direct"), pb.WaitResponse(), timeout=10)
        client.call(svc, "Delete", pb.DeleteRequest(id="direct"), pb.DeleteResponse())
        client.call(svc, "Shutdown", pb.ShutdownRequest(id="direct"), empty_pb2.Empty())
        client.close()


def _upstream(base: Path, rootfs: str, cgroup: str) -> float:
    from google.protobuf import empty_pb2

    from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
    from pyd_shim import testing, ttrpc

    bundle = base / "upstream"
    bundle.mkdir()
    spec = testing.spec(["sleep", "100000"], cgroups_path=f"/{cgroup}/upstream")
    spec["root"]["path"] = rootfs
    (bundle / "config.json").write_text(json.dumps(spec))
    # containerd reads the shim's log from this fifo; without a reader the shim dies.
    os.mkfifo(bundle / "log")
    drain = threading.Thread(target=lambda: open(bundle / "log", "rb").read(), daemon=True)
    drain.start()
    address = str(base / "cd.sock")
    out = subprocess.run([UPSTREAM, "-namespace", "bench", "-id", "upstream", "-address",
                          address, "start"], cwd=bundle, capture_output=True, text=True,
                         env={**os.environ, "TTRPC_ADDRESS": address + ".ttrpc"}, timeout=30,
                         check=True)
    client = ttrpc.Client(out.stdout.strip(), metadata={ttrpc.NAMESPACE_KEY: "bench"})
    svc = "containerd.task.v2.Task"
    shim_pid = 0
    try:
        shim_pid = client.call(svc, "Connect", pb.ConnectRequest(id="upstream"),
                               pb.ConnectResponse()).shim_pid
        client.call(svc, "Create", pb.CreateTaskRequest(id="upstream", bundle=str(bundle)),
                    pb.CreateTaskResponse(), timeout=30)
        client.call(svc, "Start", pb.StartRequest(id="upstream"), pb.StartResponse())
        time.sleep(SETTLE)
        return _pss_mib(shim_pid)
    finally:
        try:
            client.call(svc, "Kill", pb.KillRequest(id="upstream", signal=9), empty_pb2.Empty())
            client.call(svc, "Wait", pb.WaitRequest(id="upstream"), pb.WaitResponse(), timeout=10)
            client.call(svc, "Delete", pb.DeleteRequest(id="upstream"), pb.DeleteResponse())
            client.call(svc, "Shutdown", pb.ShutdownRequest(id="upstream"), empty_pb2.Empty())
        except Exception:
            if shim_pid:
                os.kill(shim_pid, signal.SIGKILL)
        client.close()


def _grpc_variant(base: Path, rootfs: str, cgroup: str) -> float:
    from pyd_shim import testing

    bundle = base / "grpc"
    bundle.mkdir()
    spec = testing.spec(["sleep", "100000"], cgroups_path=f"/{cgroup}/grpc")
    spec["root"]["path"] = rootfs
    (bundle / "config.json").write_text(json.dumps(spec))
    proc = subprocess.Popen([sys.executable, "-m", "bench._grpc_shim", str(bundle), RUNC,
                             str(base / "runc-grpc"), str(base / "grpc.sock")],
                            stdout=subprocess.PIPE, cwd=str(Path(__file__).parent.parent),
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"READY":
            raise RuntimeError("grpc variant did not start")
        time.sleep(SETTLE)
        return _pss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
        testing.runtime_cleanup(RUNC, str(base / "runc-grpc"))


def run(repeat: int) -> list[tuple[str, float, float]]:
    """(figure, MiB, reference MiB); memory barely varies, so at most 3 samples each."""
    from bench.tasks_start import compile_sources
    from pyd_shim import testing

    compile_sources()
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-shim-"))
    cgroup = f"pyd-bench-shim-{os.getpid()}"
    try:
        rootfs = testing.busybox_rootfs(str(base / "rootfs"))
        n = max(1, min(repeat, 3))
        pyd, zygote, direct, ref, grpc_ = [], [], [], [], []
        for i in range(n):
            d = base / f"run{i}"
            d.mkdir()
            shim, zyg, alone = _pyd(d, rootfs, cgroup)
            pyd.append(shim)
            zygote.append(zyg)
            direct.append(alone)
            grpc_.append(_grpc_variant(d, rootfs, cgroup))
            if UPSTREAM:
                ref.append(_upstream(d, rootfs, cgroup))
        reference = statistics.median(ref) if ref else 0.0  # 0: upstream shim not installed
        return [("shim.memory", statistics.median(pyd), reference),
                ("shim.memory.zygote", statistics.median(zygote), 0.0),
                ("shim.memory.start", statistics.median(direct), reference),
                ("shim.memory.grpc", statistics.median(grpc_), reference)]
    finally:
        testing.unmount_under(str(base))
        testing.remove_cgroup(cgroup)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    for name, value, reference in run(int(sys.argv[1]) if len(sys.argv) > 1 else 1):
        print(f"{name}: {value:.2f} MiB (containerd-shim-runc-v2 {reference:.2f} MiB)")
