"""The real CLI as a user runs it: exit codes, one-line errors, lazy imports.

Daemon-side answers come from a fake System servicer on a temporary unix socket;
no pyd-dockerd is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent import futures

import grpc
import pytest

from pyd_proto.pyd.dockerd.v1 import system_pb2, system_pb2_grpc


def pyd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "PYD_HOST"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pyd_cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def assert_one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def dead_host(tmp_path):
    return f"unix://{tmp_path}/nobody-home.sock"


def test_bad_flag_exits_125_with_one_line_and_a_hint():
    res = pyd("version", "--bogus")
    assert res.returncode == 125
    assert res.stderr == "pyd: unknown flag: --bogus\nSee 'pyd version --help'.\n"
    assert res.stdout == ""


def test_bad_global_flag_exits_125():
    res = pyd("--nope", "version")
    assert res.returncode == 125
    assert res.stderr.splitlines()[0] == "pyd: unknown flag: --nope"


def test_unknown_command_exits_1():
    res = pyd("frobnicate")
    assert res.returncode == 1
    assert res.stderr.splitlines()[0] == "pyd: 'frobnicate' is not a pyd command."


def test_unreachable_socket_is_one_line_exit_1_no_traceback(dead_host):
    res = pyd("-H", dead_host, "info")
    assert res.returncode == 1
    line = assert_one_line(res.stderr)
    assert line == f"Cannot connect to the pyd daemon at {dead_host}. Is the pyd daemon running?"


def test_pyd_host_env_is_used(dead_host):
    res = pyd("info", env={"PYD_HOST": dead_host})
    assert res.returncode == 1
    assert dead_host in assert_one_line(res.stderr)


def test_version_prints_client_section_then_fails_when_daemon_is_down(dead_host):
    res = pyd("-H", dead_host, "version")
    assert res.returncode == 1
    assert res.stdout.startswith("Client:\n Version:           0.1.0\n API version:       1.0\n")
    assert "Server:" not in res.stdout
    assert assert_one_line(res.stderr).startswith("Cannot connect to the pyd daemon")


def test_debug_shows_the_traceback(dead_host):
    res = pyd("-H", dead_host, "--debug", "info")
    assert res.returncode == 1
    assert "Traceback" in res.stderr


def test_version_flag():
    res = pyd("-v")
    assert (res.returncode, res.stdout) == (0, "pyd version 0.1.0\n")


def test_help_and_usage_errors_do_not_import_grpc():
    code = (
        "import sys, contextlib, io\n"
        "from pyd_cli.main import run\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "    run(['--help']); run(['version', '--help']); run(['version', '--bogus'])\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('google.protobuf')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stderr


# ------------------------------------------------------------ a fake daemon


class FakeSystem(system_pb2_grpc.SystemServicer):
    def __init__(self) -> None:
        self.api_version = "1.0"
        self.info_error: tuple[grpc.StatusCode, str] | None = None

    def Ping(self, request, context):
        return system_pb2.PingResponse(api_version=self.api_version, os_type="linux")

    def Version(self, request, context):
        resp = system_pb2.VersionResponse(
            version="0.1.0",
            api_version=self.api_version,
            min_api_version=self.api_version,
            git_commit="abc1234",
            python_version="3.11.7",
            os="linux",
            arch="amd64",
            kernel_version="6.1.0",
            build_time="2024-05-01T10:00:00Z",
        )
        resp.platform.name = "pyd Engine"
        resp.components.add(name="Engine", version="0.1.0").details.update(
            {
                "ApiVersion": self.api_version,
                "MinAPIVersion": self.api_version,
                "GitCommit": "abc1234",
                "PythonVersion": "3.11.7",
                "Os": "linux",
                "Arch": "amd64",
                "Experimental": "true",
                "BuildTime": "2024-05-01T10:00:00Z",
            }
        )
        resp.components.add(name="pyd-containerd", version="0.1.0").details["GitCommit"] = "abc1234"
        resp.components.add(name="pyd-runc", version="0.1.0").details["GitCommit"] = "abc1234"
        resp.components.add(name="criu", version="4.1.1")
        return resp

    def Info(self, request, context):
        if self.info_error:
            context.abort(*self.info_error)
        info = system_pb2.InfoResponse(
            id="XYZ",
            containers=3,
            containers_running=1,
            containers_stopped=2,
            images=2,
            driver="overlayfs",
            cgroup_driver="cgroupfs",
            cgroup_version="1",
            kernel_version="6.1.0",
            ncpu=8,
            mem_total=16_420_000_000,
            docker_root_dir="/var/lib/pyd",
            exec_root="/run/pyd",
            containerd_address="/run/pyd/containerd/containerd.sock",
            containerd_managed=True,
            runtime_name="pyd-runc",
            runtime_path="/usr/local/bin/pyd-runc",
            criu_version="4.1.1",
            name="host1",
            os_type="linux",
            architecture="x86_64",
            server_version="0.1.0",
            warnings=["No swap limit support"],
        )
        info.hosts.append("unix:///run/pyd/pyd.sock")
        info.driver_status.add(key="Backing Filesystem", value="extfs")
        return info


@pytest.fixture
def daemon(tmp_path):
    servicer = FakeSystem()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    system_pb2_grpc.add_SystemServicer_to_server(servicer, server)
    path = tmp_path / "pyd.sock"
    server.add_insecure_port(f"unix:{path}")
    server.start()
    servicer.host = f"unix://{path}"  # type: ignore[attr-defined]
    yield servicer
    server.stop(0)


def test_version_shows_server_and_every_component(daemon):
    res = pyd("-H", daemon.host, "version")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "\nServer: pyd Engine\n Engine:\n  Version:          0.1.0\n" in out
    assert "  API version:      1.0 (minimum version 1.0)\n" in out
    assert " pyd-containerd:\n  Version:          0.1.0\n  GitCommit:        abc1234\n" in out
    assert " criu:\n  Version:          4.1.1\n" in out
    assert "  Experimental:     true\n" in out


def test_version_format_template(daemon):
    res = pyd(
        "-H", daemon.host, "version", "--format", "{{.Server.Version}} {{.Client.APIVersion}}"
    )
    assert (res.returncode, res.stdout) == (0, "0.1.0 1.0\n")


def test_daemon_of_another_api_version_is_one_clear_line(daemon):
    daemon.api_version = "9.9"
    res = pyd("-H", daemon.host, "info")
    assert res.returncode == 1
    assert assert_one_line(res.stderr) == (
        "client version 1.0 is too old. Minimum supported API version is 9.9, "
        "please upgrade your client to a newer version"
    )
    res = pyd("-H", daemon.host, "version")
    assert res.returncode == 1
    assert "Server: pyd Engine" in res.stdout
    assert "too old" in assert_one_line(res.stderr)


def test_info_in_docker_info_shape(daemon):
    res = pyd("-H", daemon.host, "info")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:4] == [
        "Client:",
        " Version:    0.1.0",
        f" Host:       {daemon.host}",
        " Debug Mode: false",
    ]
    for expected in [
        "Server:",
        " Containers: 3",
        "  Running: 1",
        "  Paused: 0",
        "  Stopped: 2",
        " Images: 2",
        " Storage Driver: overlayfs",
        "  Backing Filesystem: extfs",
        " Cgroup Version: 1",
        " Total Memory: 15.29GiB",
        " Pyd Root Dir: /var/lib/pyd",
        " CRIU Version: 4.1.1",
        " Containerd Address: /run/pyd/containerd/containerd.sock (managed)",
        " Runtime Path: /usr/local/bin/pyd-runc",
        " Checkpoint Serving: off",
    ]:
        assert expected in lines
    assert res.stderr == "WARNING: No swap limit support\n"


def test_info_format(daemon):
    res = pyd(
        "-H", daemon.host, "info", "--format", "{{.CriuVersion}} {{.NCPU}} {{json .DriverStatus}}"
    )
    assert (res.returncode, res.stdout) == (0, '4.1.1 8 [["Backing Filesystem","extfs"]]\n')


def test_daemon_error_is_error_response_from_daemon(daemon):
    daemon.info_error = (grpc.StatusCode.FAILED_PRECONDITION, "containerd is not running")
    res = pyd("-H", daemon.host, "info")
    assert res.returncode == 1
    assert assert_one_line(res.stderr) == "Error response from daemon: containerd is not running"
