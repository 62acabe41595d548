"""The one module that talks to pyd-dockerd.

grpc and the generated stubs are imported on the first call, never at import
time, so `pyd --help` and usage errors stay fast. `map_rpc_error` is the one
place a gRPC status becomes the message and exit status a Docker user expects.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from pyd_cli.errors import EXIT_CANNOT_INVOKE, EXIT_ERROR, EXIT_NOT_FOUND, CliError
from pyd_cli.versioninfo import API_VERSION, MIN_API_VERSION, parse_api_version

if TYPE_CHECKING:
    import grpc

    from pyd_proto.pyd.dockerd.v1 import (
        checkpoints_pb2_grpc,
        containers_pb2_grpc,
        images_pb2_grpc,
        networks_pb2_grpc,
        system_pb2,
        system_pb2_grpc,
        volumes_pb2_grpc,
    )

DEFAULT_HOST = "unix:///run/pyd/pyd.sock"

# gRPC's own wording when the transport, not the daemon, failed.
_TRANSPORT_HINTS = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "no such file or directory",
    "connection refused",
    "socket closed",
    "connection reset",
    "broken pipe",
    "dns resolution failed",
    "empty address list",
)


def grpc_target(host: str) -> str:
    """`-H` value → gRPC target: unix:///path, unix:path, /path, tcp://host:port."""
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        if path:
            return "unix:" + path
    elif host.startswith("unix:") and len(host) > len("unix:"):
        return host
    elif host.startswith("/"):
        return "unix:" + host
    elif host.startswith("tcp://") and len(host) > len("tcp://"):
        return host[len("tcp://") :]
    raise CliError(f"unable to parse pyd host `{host}`")


def is_rpc_error(exc: BaseException) -> bool:
    """True for a grpc.RpcError, without importing grpc when it was never loaded."""
    grpc_mod = sys.modules.get("grpc")
    return grpc_mod is not None and isinstance(exc, grpc_mod.RpcError)


def cannot_connect_message(host: str) -> str:
    """Docker's message for a daemon that does not answer, with pyd's names."""
    return f"Cannot connect to the pyd daemon at {host}. Is the pyd daemon running?"


def map_rpc_error(err: Any, host: str, *, daemon_error_status: int = EXIT_ERROR) -> CliError:
    """A grpc.RpcError → the CliError docker/cli would report for it.

    * transport failure (UNAVAILABLE from the channel) → "Cannot connect to the
      pyd daemon at HOST. Is the pyd daemon running?"; permission denied on the
      socket → docker's "permission denied while trying to connect ..." line;
    * any status the daemon sent (NOT_FOUND, ALREADY_EXISTS, INVALID_ARGUMENT,
      FAILED_PRECONDITION, ...) → "Error response from daemon: MESSAGE";
    * CANCELLED on our side (Ctrl-C) → no message, exit 0 as docker does.

    The exit status is `daemon_error_status`: 1 for most commands, 125 for
    run/create/start, which like `docker run` also map "executable file not
    found"/"no such file or directory" to 127 and "permission denied"/"is a
    directory" to 126.
    """
    import grpc

    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (err.details() if callable(getattr(err, "details", None)) else None) or ""
    lowered = details.lower()
    status = daemon_error_status
    if code == grpc.StatusCode.CANCELLED and "cancelled on client" in lowered:
        return CliError("", 0)
    if code == grpc.StatusCode.UNAVAILABLE and (
        not details or any(h in lowered for h in _TRANSPORT_HINTS) or "permission denied" in lowered
    ):
        if "permission denied" in lowered:
            return CliError(
                "permission denied while trying to connect to the pyd daemon socket at "
                f"{host}: {details}",
                status,
            )
        return CliError(cannot_connect_message(host), status)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"Error response from daemon: context deadline exceeded: {details}", status)
    message = details or code.name.lower().replace("_", " ")
    if daemon_error_status != EXIT_ERROR:
        status = run_error_status(message, daemon_error_status)
    return CliError(f"Error response from daemon: {message}", status)


def run_error_status(message: str, default: int) -> int:
    """docker/cli's runStartContainerErr: 127 not found, 126 cannot invoke, else `default`."""
    if "executable file not found" in message or "no such file or directory" in message:
        return EXIT_NOT_FOUND
    if "permission denied" in message or "is a directory" in message:
        return EXIT_CANNOT_INVOKE
    return default


def check_api_version(server_api: str, server_min: str) -> None:
    """Refuse a daemon whose API range does not overlap the client's.

    Like Docker, a newer daemon that still accepts this client's version is
    fine; the wording is the one dockerd uses for the same mismatch.
    """
    server = parse_api_version(server_api)
    if not server:
        return
    lowest = parse_api_version(server_min) or server
    if lowest > parse_api_version(API_VERSION):
        raise CliError(
            f"client version {API_VERSION} is too old. Minimum supported API version is "
            f"{server_min or server_api}, please upgrade your client to a newer version"
        )
    if server < parse_api_version(MIN_API_VERSION):
        raise CliError(
            f"client version {API_VERSION} is too new. "
            f"Maximum supported API version is {server_api}"
        )


class Client:
    """gRPC stubs for pyd-dockerd at `host`, created on first use.

    With `check_version`, the first stub handed out is preceded by one Ping
    whose API version must match this client's (see `check_api_version`).
    """

    def __init__(self, host: str = DEFAULT_HOST, *, check_version: bool = True) -> None:
        self.host = host
        self.target = grpc_target(host)
        self.check_version = check_version
        self._channel: grpc.Channel | None = None
        self._stubs: dict[str, Any] = {}
        self._checked = False

    def channel(self) -> grpc.Channel:
        """The channel, opened on first use (this is where grpc is imported)."""
        if self._channel is None:
            from pyd_proto import dial

            self._channel = dial.channel(self.target)
        return self._channel

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _stub(self, name: str) -> Any:
        stub = self._stubs.get(name)
        if stub is None:
            import importlib

            module = importlib.import_module(f"pyd_proto.pyd.dockerd.v1.{name.lower()}_pb2_grpc")
            stub = getattr(module, f"{name}Stub")(self.channel())
            self._stubs[name] = stub
        if self.check_version and not self._checked:
            self._checked = True
            ping = self.ping()
            check_api_version(ping.api_version, ping.min_api_version)
        return stub

    def ping(self) -> system_pb2.PingResponse:
        """System.Ping, without the version check."""
        from google.protobuf import empty_pb2

        from pyd_proto.pyd.dockerd.v1 import system_pb2_grpc as sg

        stub = self._stubs.get("System") or sg.SystemStub(self.channel())
        self._stubs["System"] = stub
        return stub.Ping(empty_pb2.Empty())

    @property
    def containers(self) -> containers_pb2_grpc.ContainersStub:
        return self._stub("Containers")  # type: ignore[no-any-return]

    @property
    def images(self) -> images_pb2_grpc.ImagesStub:
        return self._stub("Images")  # type: ignore[no-any-return]

    @property
    def networks(self) -> networks_pb2_grpc.NetworksStub:
        return self._stub("Networks")  # type: ignore[no-any-return]

    @property
    def volumes(self) -> volumes_pb2_grpc.VolumesStub:
        return self._stub("Volumes")  # type: ignore[no-any-return]

    @property
    def checkpoints(self) -> checkpoints_pb2_grpc.CheckpointsStub:
        return self._stub("Checkpoints")  # type: ignore[no-any-return]

    @property
    def system(self) -> system_pb2_grpc.SystemStub:
        return self._stub("System")  # type: ignore[no-any-return]
