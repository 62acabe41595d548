"""`make_server(config)`: pyd-dockerd, built without touching argv (tests build it
in-process)."""

from __future__ import annotations

from pyd_dockerd.api import system
from pyd_dockerd.config import Config
from pyd_dockerd.daemon.daemon import Daemon
from pyd_proto.pyd.dockerd.v1 import system_pb2_grpc
from pyd_proto.server import Daemon as Server


def make_server(config: Config) -> tuple[Server, Daemon]:
    """The gRPC server and the daemon core behind it; `core.start()` brings up containerd."""
    core = Daemon(config)
    server = Server("pyd-dockerd", config.socket_path)
    server.add(system_pb2_grpc.add_SystemServicer_to_server, system.SystemService(core),
               system.SERVICE)
    server.on_stop(core.shutdown)
    return server, core
