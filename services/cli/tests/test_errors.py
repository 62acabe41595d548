"""The one gRPC → Docker message/exit-code mapper, called with fake RpcErrors."""

from __future__ import annotations

import grpc
import pytest

from pyd_cli.client import check_api_version, grpc_target, map_rpc_error
from pyd_cli.errors import CliError

HOST = "unix:///run/pyd/pyd.sock"


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_unreachable_socket_is_dockers_cannot_connect_line():
    err = map_rpc_error(
        FakeRpcError(
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: UNKNOWN: unix:/run/pyd/pyd.sock: "
            "No such file or directory",
        ),
        HOST,
    )
    assert err.message == (
        "Cannot connect to the pyd daemon at unix:///run/pyd/pyd.sock. Is the pyd daemon running?"
    )
    assert err.status == 1


def test_unreachable_socket_in_run_exits_125():
    err = map_rpc_error(
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
        HOST,
        daemon_error_status=125,
    )
    assert err.status == 125
    assert err.message.startswith("Cannot connect to the pyd daemon")


def test_permission_denied_on_socket():
    err = map_rpc_error(
        FakeRpcError(
            grpc.StatusCode.UNAVAILABLE,
            "failed to connect to all addresses; last error: "
            "unix:/run/pyd/pyd.sock: Permission denied",
        ),
        HOST,
    )
    assert err.message.startswith(
        "permission denied while trying to connect to the pyd daemon socket at unix:///run/pyd/pyd.sock"
    )


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (grpc.StatusCode.NOT_FOUND, "No such container: web"),
        (grpc.StatusCode.ALREADY_EXISTS, 'Conflict. The container name "/web" is already in use'),
        (grpc.StatusCode.INVALID_ARGUMENT, "invalid reference format"),
        (grpc.StatusCode.FAILED_PRECONDITION, "Container web is not running"),
        (grpc.StatusCode.UNAVAILABLE, "containerd is restarting"),
    ],
)
def test_daemon_errors_are_error_response_from_daemon(code, details):
    err = map_rpc_error(FakeRpcError(code, details), HOST)
    assert err.message == f"Error response from daemon: {details}"
    assert err.status == 1
    assert map_rpc_error(FakeRpcError(code, details), HOST, daemon_error_status=125).status == 125


@pytest.mark.parametrize(
    ("details", "status"),
    [
        ('exec: "nope": executable file not found in $PATH', 127),
        ("exec /bin/x: no such file or directory", 127),
        ("exec /etc: permission denied", 126),
        ("failed to create task: boom", 125),
    ],
)
def test_run_maps_command_failures_to_126_and_127(details, status):
    err = map_rpc_error(
        FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, details), HOST, daemon_error_status=125
    )
    assert err.status == status


def test_client_side_cancel_is_silent_success():
    err = map_rpc_error(
        FakeRpcError(grpc.StatusCode.CANCELLED, "Locally cancelled on client"), HOST
    )
    assert (err.message, err.status) == ("", 0)


def test_api_version_ranges():
    check_api_version("1.0", "1.0")
    check_api_version("1.5", "1.0")  # a newer daemon that still accepts 1.0
    check_api_version("", "")  # unknown: do not refuse
    with pytest.raises(
        CliError, match=r"client version 1.0 is too old\. Minimum supported API version is 2.0"
    ):
        check_api_version("2.3", "2.0")
    with pytest.raises(CliError, match=r"client version 1.0 is too old"):
        check_api_version("9.9", "")
    with pytest.raises(
        CliError, match=r"client version 1.0 is too new\. Maximum supported API version is 0.9"
    ):
        check_api_version("0.9", "0.1")


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("unix:///run/pyd/pyd.sock", "unix:/run/pyd/pyd.sock"),
        ("unix:/tmp/x.sock", "unix:/tmp/x.sock"),
        ("/tmp/x.sock", "unix:/tmp/x.sock"),
        ("tcp://10.0.0.1:2375", "10.0.0.1:2375"),
    ],
)
def test_host_forms(host, target):
    assert grpc_target(host) == target


def test_bad_host_is_one_line():
    with pytest.raises(CliError, match="unable to parse pyd host `ftp://x`"):
        grpc_target("ftp://x")
