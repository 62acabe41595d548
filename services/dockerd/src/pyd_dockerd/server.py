"""`make_server(config)`: pyd-dockerd, built without touching argv (tests build it
in-process)."""

from __future__ import annotations

from pyd_dockerd.api import checkpoints, containers, images, networks, system, validation, volumes
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
    server = Server("pyd-dockerd", config.socket_path, rules=validation.RULES)
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
    if config.checkpoint_listen:
        _serve_checkpoints(server, core)
    server.on_stop(core.shutdown)
    return server, core


def prepare(server: Server, core: Daemon) -> None:
    """What runs before the gRPC socket is bound: the core (containerd, networks,
    containers), then the Docker Engine REST API on its own socket, over that core.
    A live daemon on the REST socket is refused before anything starts."""
    path = core.config.docker_socket_path
    if path:
        from pyd_proto.server import prepare_socket_path

        prepare_socket_path(path)
    core.start()
    if path:
        # Only this module is imported here; aiohttp loads in the API's own thread.
        from pyd_dockerd.engineapi.server import EngineAPI

        api = EngineAPI(core, path)
        api.start()
        server.on_stop(api.stop)  # stopped before the core (on_stop runs in reverse)


def _serve_checkpoints(server: Server, core: Daemon) -> None:
    """CheckpointTransfer on TCP --checkpoint-listen (mutual TLS when configured),
    started with the daemon and stopped before it."""
    from concurrent import futures

    import grpc

    from pyd_dockerd.api import transfer
    from pyd_dockerd.daemon.checkpoint_server import CheckpointServer
    from pyd_proto.pyd.dockerd.v1 import transfer_pb2_grpc

    config = core.config
    host = config.checkpoint_listen.rpartition(":")[0].strip("[]")
    source = CheckpointServer(core, host)
    tcp = grpc.server(futures.ThreadPoolExecutor(max_workers=16,
                                                 thread_name_prefix="checkpoint-transfer"))
    transfer_pb2_grpc.add_CheckpointTransferServicer_to_server(
        transfer.CheckpointTransferService(source), tcp)
    # reflection as on every pyd socket, so grpcurl can describe it (DESIGN.md, Wire)
    from grpc_reflection.v1alpha import reflection

    from pyd_proto.pyd.dockerd.v1 import transfer_pb2
    reflection.enable_server_reflection(
        [transfer_pb2.DESCRIPTOR.services_by_name["CheckpointTransfer"].full_name,
         reflection.SERVICE_NAME], tcp)
    if config.tls:
        with open(config.tlscacert, "rb") as ca, open(config.tlscert, "rb") as crt, \
                open(config.tlskey, "rb") as key:
            creds = grpc.ssl_server_credentials([(key.read(), crt.read())],
                                                root_certificates=ca.read(),
                                                require_client_auth=True)
        bound = tcp.add_secure_port(config.checkpoint_listen, creds)
    else:
        bound = tcp.add_insecure_port(config.checkpoint_listen)
    if not bound:
        raise OSError(f"cannot listen on {config.checkpoint_listen}")
    tcp.start()

    def stop_tcp() -> None:
        tcp.stop(2).wait()

    server.on_stop(stop_tcp)
    server.on_stop(source.stop)
