"""`make_server(config)`: pyd-containerd's daemon, built without touching argv."""

from __future__ import annotations

import logging
import os

from pyd_containerd.config import Config
from pyd_containerd.metadata.namespaces import NamespaceStore
from pyd_containerd.services.namespaces import service as namespaces
from pyd_containerd.services.version import service as version
from pyd_db.database import open_database
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2_grpc
from pyd_proto.containerd.services.version.v1 import version_pb2_grpc
from pyd_proto.server import Daemon

log = logging.getLogger("pyd.containerd")


def make_server(config: Config) -> Daemon:
    """Open the metadata database, build the services and register them on a `Daemon`."""
    for d in (config.root, config.state):
        os.makedirs(d, mode=0o711, exist_ok=True)
    engine = open_database(config.db_path, "containerd")
    daemon = Daemon("pyd-containerd", config.socket_path)
    daemon.add(version_pb2_grpc.add_VersionServicer_to_server, version.VersionService(),
               version.SERVICE)
    daemon.add(namespace_pb2_grpc.add_NamespacesServicer_to_server,
               namespaces.NamespacesService(NamespaceStore(engine)), namespaces.SERVICE)
    daemon.on_stop(engine.dispose)
    log.info("pyd-containerd configured", extra={"root": config.root, "state": config.state})
    return daemon
