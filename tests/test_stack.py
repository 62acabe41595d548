"""The stack starts, answers on every socket, and stops cleanly (issue 2)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time

import pytest

from tests.stack import Stack, binary, private_stack


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("grpcurl"), "-plaintext", *args], capture_output=True,
                          text=True, timeout=30)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_grpcurl_lists_services_reflection_and_health(stack: Stack) -> None:
    dockerd = grpcurl("-unix", str(stack.socket), "list")
    assert dockerd.returncode == 0, dockerd.stderr
    assert {"pyd.dockerd.v1.System", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= set(dockerd.stdout.split())
    containerd = grpcurl("-unix", str(stack.containerd_socket), "list")
    assert containerd.returncode == 0, containerd.stderr
    assert {"containerd.services.version.v1.Version",
            "containerd.services.namespaces.v1.Namespaces", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= set(containerd.stdout.split())
    health = grpcurl("-unix", str(stack.containerd_socket), "grpc.health.v1.Health/Check")
    assert json.loads(health.stdout)["status"] == "SERVING"


def test_sockets_are_0660_group_pyd(stack: Stack) -> None:
    for sock in (stack.socket, stack.containerd_socket):
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_uid == 0


def test_version_reports_every_component(stack: Stack) -> None:
    out = grpcurl("-unix", str(stack.socket), "pyd.dockerd.v1.System/Version")
    assert out.returncode == 0, out.stderr
    components = {c["Name"]: c for c in json.loads(out.stdout)["Components"]}
    assert set(components) >= {"Engine", "containerd", "criu"}
    assert components["containerd"]["Version"] == "0.1.0"
    assert components["criu"]["Version"].startswith("4.")


def test_sigterm_stops_the_containerd_child(stack: Stack) -> None:
    pid = stack.containerd_pid()
    assert pid and _alive(pid)
    assert stack.stop(signal.SIGTERM) == 0
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not stack.socket.exists()
    assert not stack.containerd_socket.exists()


def test_sigkill_leaves_no_socket_that_blocks_the_next_start(stack: Stack) -> None:
    first_containerd = stack.containerd_pid()
    stack.stop(signal.SIGKILL)
    assert stack.socket.exists()  # the dead daemon's socket is still on disk
    stack.start()
    assert stack.ping()
    # containerd outlived dockerd and was adopted, not started twice.
    assert stack.containerd_pid() == first_containerd
    assert first_containerd is not None and _alive(first_containerd)


def test_second_dockerd_on_a_live_socket_is_refused(stack: Stack) -> None:
    out = subprocess.run([binary("pyd-dockerd"), "--root", str(stack.root), "--state",
                          str(stack.state)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "already listening" in out.stderr
    assert "Traceback" not in out.stderr
    assert stack.ping()


def test_teardown_leaves_nothing_behind() -> None:
    with private_stack() as s:
        pass
    assert s.leftovers() == {"pids": set(), "mounts": [], "cgroups": []}
    assert not s.base.exists()
    assert not os.path.exists(s.netns)


@pytest.mark.parametrize("schema_db", ["pyd.db"])
def test_daemon_creates_its_database_at_head(stack: Stack, schema_db: str) -> None:
    from sqlalchemy import create_engine

    from pyd_db.database import current_revision, head_revision

    engine = create_engine(f"sqlite:///{stack.root / schema_db}")
    try:
        assert current_revision(engine) == head_revision("dockerd")
    finally:
        engine.dispose()


def test_pyd_version_and_info_through_the_cli(stack: Stack) -> None:
    version = stack.cli("version")
    assert version.returncode == 0, version.stderr
    assert "Client:" in version.stdout and "Server: pyd engine" in version.stdout
    assert " containerd:" in version.stdout and " criu:" in version.stdout
    info = stack.cli("info")
    assert info.returncode == 0, info.stderr
    assert f"Pyd Root Dir: {stack.root}" in info.stdout
    assert f"Containerd Address: unix://{stack.containerd_socket}" in info.stdout
    assert "CRIU Version: 4." in info.stdout


def test_cli_against_a_dead_socket_prints_one_line(stack: Stack) -> None:
    out = stack.cli("-H", f"unix://{stack.base}/nobody.sock", "version")
    assert out.returncode == 1
    assert "Cannot connect to the pyd daemon" in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
