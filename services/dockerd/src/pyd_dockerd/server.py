"""`make_server(config)`: pyd-dockerd, built without touching argv (tests build it
in-process)."""

from __future__ import annotations

from pyd_dockerd.api import checkpoints, containers, images, networks, system, volumes
from pyd_dockerd.config import Config
from pyd_dockerd.daemon.daemon import Daemon
from pyd_proto.pyd.dockerd.v1 import (
    checkpoints_pb2_grpc,
    containers_pb2_grpc,
    images_pb2_grpc,
    networks_pb2_grpc,
    system_pb2_grpc,
    volumes_pb2_grpc,
)
from pyd_proto.server import Daemon as Server


def make_server(config: Config) -> tuple[Server, Daemon]:
    """The gRPC server and the daemon core behind it; `core.start()` brings up containerd."""
    core = Daemon(config)
    server = Server("pyd-dockerd", config.socket_path)
    server.add(system_pb2_grpc.add_SystemServicer_to_server, system.SystemService(core),
               system.SERVICE)
    # Networks and volumes (issue 5): the core's controller and store; bridges and
    # iptables chains come up in core.start and go in core.shutdown.
    server.add(networks_pb2_grpc.add_NetworksServicer_to_server,
               networks.NetworksService(core.network, core.containers), networks.SERVICE)
    server.add(volumes_pb2_grpc.add_VolumesServicer_to_server,
               volumes.VolumesService(core.volumes), volumes.SERVICE)
    server.add(containers_pb2_grpc.add_ContainersServicer_to_server,
               containers.ContainersService(core), containers.SERVICE)
    server.add(images_pb2_grpc.add_ImagesServicer_to_server, images.ImagesService(core),
               images.SERVICE)
    server.add(checkpoints_pb2_grpc.add_CheckpointsServicer_to_server,
               checkpoints.CheckpointsService(core), checkpoints.SERVICE)
    server.on_stop(core.shutdown)
    return server, core
