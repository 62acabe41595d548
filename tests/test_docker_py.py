"""docker-py (the PyPI `docker` package) drives pyd through the Docker Engine REST API
(issue 8): containers.run, logs, exec_run, stop, remove, wait, images.load, and
container.stats, update and export, client.df."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import docker  # type: ignore[import-untyped]
import pytest

from tests.stack import private_stack, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with private_stack() as s:
        sock = s.state / "docker.sock"
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # version="auto": docker-py asks /version and speaks the version pyd reports.
        c = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=120)
        try:
            yield c
        finally:
            c.close()


@pytest.fixture
def engine(client: Any) -> Iterator[Any]:
    yield client
    for c in client.containers.list(all=True):
        c.remove(force=True)



def test_version_is_negotiated(client: Any) -> None:
    assert client.api.api_version == "1.47"
    assert client.version()["Components"][0]["Name"] == "Engine"
    assert client.ping() is True


def test_containers_run_attached_returns_the_output_and_removes(engine: Any) -> None:
    out = engine.containers.run("busybox", ["sh", "-c", "echo hello; echo noise >&2"],
                                remove=True)
    assert out == b"hello\n"  # stdout only, as docker-py asks by default
    assert engine.containers.list(all=True) == []
    with pytest.raises(docker.errors.ContainerError) as err:
        engine.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    assert err.value.exit_status == 3


def test_detached_container_logs_exec_stop_wait_remove(engine: Any) -> None:
    c = engine.containers.run("busybox", ["sh", "-c",
                                          "while true; do echo tick; sleep 0.1; done"],
                              detach=True, name="pyticker")
    c.reload()
    assert (c.name, c.status) == ("pyticker", "running")
    assert wait_for(lambda: c.logs().count(b"tick\n") >= 3)
    stream = c.logs(stream=True, follow=True)
    assert next(stream) == b"tick\n"
    stream.close()

    r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert r.exit_code == 3 and sorted(r.output.splitlines()) == [b"err", b"out"]
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
    assert r.exit_code == 0 and r.output == (b"out\n", b"err\n")
    r = c.exec_run("tty", tty=True)
    assert r.exit_code == 0 and r.output.startswith(b"/dev/pts/")

    with pytest.raises(docker.errors.APIError) as busy:
        c.remove()
    assert busy.value.status_code == 409
    c.stop(timeout=1)
    assert c.wait(timeout=30)["StatusCode"] == 137
    c.reload()
    assert c.status == "exited"
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get("pyticker")


def test_wait_returns_when_the_container_exits_by_itself(engine: Any) -> None:
    c = engine.containers.run("busybox", ["sh", "-c", "sleep 0.5; exit 7"], detach=True)
    assert c.wait(timeout=30) == {"StatusCode": 7}
    assert c.logs() == b""


def test_images_load_a_saved_image(engine: Any) -> None:
    busybox = engine.images.get("busybox")
    assert busybox.tag("pyload", "1")
    data = b"".join(engine.images.get("pyload:1").save(named="pyload:1"))
    engine.images.remove("pyload:1")
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get("pyload:1")
    loaded = engine.images.load(data)
    assert [i.tags for i in loaded] == [["busybox:latest", "pyload:1"]]
    assert loaded[0].id == busybox.id
    out = engine.containers.run("pyload:1", ["echo", "from the loaded image"], remove=True)
    assert out == b"from the loaded image\n"
    engine.images.remove("pyload:1")


def _memory_limit(pid: int) -> int:
    """The memory limit the kernel has for `pid`'s cgroup (v1 or v2)."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for name in ("memory.limit_in_bytes", "memory.max"):
                where = (f"/sys/fs/cgroup/{ctrls}{path}/{name}" if "memory" in ctrls.split(",")
                         else f"/sys/fs/cgroup{path}/{name}" if not ctrls else "")
                try:
                    with open(where) as limit:
                        return int(limit.read())
                except (FileNotFoundError, IsADirectoryError):
                    continue
    raise AssertionError(f"no memory cgroup for {pid}")


def test_stats_update_export_and_df(engine: Any) -> None:
    vol = engine.volumes.create("pydfvol")
    c = engine.containers.run("busybox", ["sh", "-c", "head -c 200000 /dev/zero > /v/blob; "
                                          "echo marked > /marker; sleep 300"],
                              detach=True, name="pyres", volumes={"pydfvol": {"bind": "/v"}})
    try:
        assert wait_for(lambda: c.exec_run(["cat", "/marker"]).output == b"marked\n")

        # stats(stream=False): one StatsJSON, its precpu_stats from a sample before.
        s = c.stats(stream=False)
        assert (s["name"], s["id"]) == ("/pyres", c.id)
        assert s["preread"] < s["read"] and s["preread"] != "0001-01-01T00:00:00Z"
        cpu, pre = s["cpu_stats"], s["precpu_stats"]
        assert cpu["cpu_usage"]["total_usage"] >= pre["cpu_usage"]["total_usage"] > 0
        assert cpu["system_cpu_usage"] > pre["system_cpu_usage"] > 0
        assert cpu["online_cpus"] >= 1
        assert s["pids_stats"]["current"] == 1
        assert 0 < s["memory_stats"]["usage"] < s["memory_stats"]["limit"]
        assert "eth0" in s["networks"]
        stream = c.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        stream.close()
        assert second["preread"] == first["read"]

        # update: the new limits are recorded and reach the running container.
        assert c.update(mem_limit="80m", cpu_shares=512,
                        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}) == {
                            "Warnings": None}
        c.reload()
        hc = c.attrs["HostConfig"]
        assert (hc["Memory"], hc["CpuShares"]) == (80 << 20, 512)
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert _memory_limit(c.attrs["State"]["Pid"]) == 80 << 20
        assert c.stats(stream=False, one_shot=True)["memory_stats"]["limit"] == 80 << 20
        with pytest.raises(docker.errors.APIError) as bad:
            c.update(restart_policy={"Name": "sometimes"})
        assert bad.value.status_code == 400

        # export: the container's filesystem as a tar stream.
        data = b"".join(c.export())
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            marker = tar.extractfile("marker")
            assert marker is not None and marker.read() == b"marked\n"
            assert "bin/busybox" in tar.getnames()

        # df: images, containers and volumes with their sizes.
        df = engine.df()
        [mine] = [x for x in df["Containers"] if x["Id"] == c.id]
        assert mine["SizeRw"] >= len(b"marked\n") and mine["SizeRootFs"] > mine["SizeRw"]
        [image] = [i for i in df["Images"] if i["Id"] == c.image.id]
        assert image["Containers"] == 1 and image["Size"] > 1 << 20
        assert df["LayersSize"] >= image["Size"]
        [v] = [v for v in df["Volumes"] if v["Name"] == "pydfvol"]
        assert v["UsageData"]["RefCount"] == 1 and v["UsageData"]["Size"] >= 200000
        assert df["BuildCache"] == []
    finally:
        c.remove(force=True)
        vol.remove()
