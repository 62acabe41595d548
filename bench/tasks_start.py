"""tasks.start: Create+Start+Wait+Delete of a `true` task through pyd-containerd (over its
gRPC socket, a pyd-shim per task, Debian runc as the runtime) vs `runc run` of the same
bundle, which also creates, starts, waits and deletes.

Where the time goes is reported as extra figures (reference 0): each Tasks call's
median, and a shim's own start until it serves: forked by containerd's zygote (what
Create does) and by `pyd-shim start` (a new interpreter; the fallback).

    .venv/bin/python -m bench.tasks_start [REPEAT]
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REFERENCE = "runc run (Debian runc 1.1.5), same bundle"
BIN = Path(sys.executable).parent
RUNC = shutil.which("runc") or "/usr/sbin/runc"
NS = (("containerd-namespace", "bench"),)


def compile_sources() -> None:
    """Byte-compile what every shim imports (an editable install has no .pyc, and with
    PYTHONDONTWRITEBYTECODE each shim would compile its sources again)."""
    import google.protobuf

    import pyd_proto
    import pyd_shim

    for mod in (pyd_shim, pyd_proto, google.protobuf):
        compileall.compile_dir(os.path.dirname(mod.__file__ or ""), quiet=1)


def run(repeat: int) -> list[tuple[str, float, float]]:
    import grpc
    from google.protobuf import any_pb2

    from pyd_proto import dial
    from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
    from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
    from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc
    from pyd_proto.containerd.types import mount_pb2
    from pyd_shim import testing

    compile_sources()
    base = Path(tempfile.mkdtemp(prefix="pyd-bench-tasks-"))
    cgroup = f"pyd-bench-tasks-{os.getpid()}"
    rootfs = testing.busybox_rootfs(str(base / "rootfs"))
    bundle = base / "bundle"
    bundle.mkdir()
    ref_spec = testing.spec(["true"], cgroups_path=f"/{cgroup}/runc")
    ref_spec["root"]["path"] = rootfs  # the same busybox tree the tasks bind-mount
    (bundle / "config.json").write_text(json.dumps(ref_spec))
    sock = base / "cd.sock"
    log = open(base / "containerd.log", "wb")
    daemon = subprocess.Popen(
        [str(BIN / "pyd-containerd"), "--root", str(base / "root"), "--state",
         str(base / "state"), "--address", str(sock), "--runtime-binary", RUNC,
         "--runtime-root", str(base / "runc")], stdout=log, stderr=log)
    channel = dial.channel(str(sock))
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        tasks = tasks_pb2_grpc.TasksStub(channel)
        containers = containers_pb2_grpc.ContainersStub(channel)
        mount = mount_pb2.Mount(type="bind", source=rootfs, options=["rbind", "ro"])
        phases: dict[str, list[float]] = {k: [] for k in
                                          ("create", "start", "wait", "delete", "total")}
        runc_samples: list[float] = []
        for i in range(repeat + 1):
            id = f"t{i}"
            spec = testing.spec(["true"], cgroups_path=f"/{cgroup}/{id}")
            containers.Create(containers_pb2.CreateContainerRequest(
                container=containers_pb2.Container(
                    id=id, runtime=containers_pb2.Container.Runtime(name="io.containerd.runc.v2"),
                    spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                                     value=json.dumps(spec).encode()))), metadata=NS)
            marks = [time.perf_counter()]
            tasks.Create(pb.CreateTaskRequest(container_id=id, rootfs=[mount]), metadata=NS)
            marks.append(time.perf_counter())
            tasks.Start(pb.StartRequest(container_id=id), metadata=NS)
            marks.append(time.perf_counter())
            status = tasks.Wait(pb.WaitRequest(container_id=id), metadata=NS).exit_status
            marks.append(time.perf_counter())
            tasks.Delete(pb.DeleteTaskRequest(container_id=id), metadata=NS)
            marks.append(time.perf_counter())
            if status != 0:
                raise RuntimeError(f"task {id} exited {status}")
            t = time.perf_counter()
            r = subprocess.run([RUNC, "--root", str(base / "runc-ref"), "run", "--bundle",
                                str(bundle), f"ref{i}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            dt = time.perf_counter() - t
            if r.returncode != 0:
                raise RuntimeError(f"runc run: {r.stderr.decode().strip()}")
            if i == 0:
                continue  # warm-up round
            runc_samples.append(dt)
            for name, a, b in (("create", 0, 1), ("start", 1, 2), ("wait", 2, 3),
                               ("delete", 3, 4), ("total", 0, 4)):
                phases[name].append(marks[b] - marks[a])
        shim_start = _shim_start(base, repeat)
        zygote_spawn = _shim_start(base, repeat, zygote=base / "state" / "shim-zygote.sock")
        med = {k: statistics.median(v) for k, v in phases.items()}
        return [("tasks.start", med["total"], statistics.median(runc_samples)),
                ("tasks.start.create", med["create"], 0.0),
                ("tasks.start.shim_zygote", zygote_spawn, 0.0),
                ("tasks.start.shim_start", shim_start, 0.0),
                ("tasks.start.start", med["start"], 0.0),
                ("tasks.start.wait", med["wait"], 0.0),
                ("tasks.start.delete", med["delete"], 0.0)]
    finally:
        channel.close()
        daemon.kill()
        daemon.wait(10)
        log.close()
        for bundle in base.glob("state/io.containerd.runtime.v2.task/*/*"):
            testing.kill_shim(str(bundle))
        for root in [*base.glob("runc/*"), base / "runc-ref"]:
            testing.runtime_cleanup(RUNC, str(root))
        testing.unmount_under(str(base))
        testing.remove_cgroup(cgroup)
        shutil.rmtree(base, ignore_errors=True)


def _shim_start(base: Path, repeat: int, zygote: Path | None = None) -> float:
    """Median time until a new shim serves: forked by containerd's zygote (what Create
    uses), or `pyd-shim start` (a new interpreter; the fallback)."""
    from google.protobuf import empty_pb2

    from pyd_proto.containerd.runtime.task.v2 import shim_pb2
    from pyd_shim import ttrpc
    from pyd_shim import zygote as zyg

    samples = []
    kind = "z" if zygote else "s"
    for i in range(max(3, repeat)):
        b = base / f"shim-{kind}{i}"
        b.mkdir()
        t = time.perf_counter()
        if zygote is not None:
            address = zyg.spawn(str(zygote), {"namespace": "bench", "id": f"{kind}{i}",
                                              "bundle": str(b), "address": str(base / "x.sock")})
        else:
            address = subprocess.run(
                [str(BIN / "pyd-shim"), "-namespace", "bench", "-id", f"{kind}{i}", "-address",
                 str(base / "x.sock"), "start"], cwd=b, capture_output=True, text=True,
                check=True).stdout.strip()
        samples.append(time.perf_counter() - t)
        c = ttrpc.Client(address)
        c.call("containerd.task.v2.Task", "Shutdown",
               shim_pb2.ShutdownRequest(id=f"{kind}{i}"), empty_pb2.Empty())
        c.close()
    return statistics.median(samples)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rows = run(n)
    for name, pyd, ref in rows:
        extra = f", runc run {ref * 1000:.1f} ms, ratio {pyd / ref:.2f}" if ref else ""
        print(f"{name}: {pyd * 1000:.1f} ms{extra}")
