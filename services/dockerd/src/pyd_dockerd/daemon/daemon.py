"""The dockerd core object: configuration, metadata, containerd, component versions.
API servicers call into it; it never sees a gRPC context (moby's daemon.Daemon)."""

from __future__ import annotations

import logging
import os
import time

from sqlalchemy import Engine

from pyd_db.database import open_database
from pyd_dockerd.config import Config
from pyd_dockerd.daemon.components import ComponentCache
from pyd_dockerd.libcontainerd.client import ContainerdClient
from pyd_dockerd.libcontainerd.supervisor import Supervisor
from pyd_dockerd.store.engine import engine_id

log = logging.getLogger("pyd.dockerd")


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_at = time.time()
        for d in (config.root, config.state):
            os.makedirs(d, mode=0o711, exist_ok=True)
        self.db: Engine = open_database(config.db_path, "dockerd")
        self.id = engine_id(self.db)
        self.supervisor: Supervisor | None = None
        if not config.containerd:
            self.supervisor = Supervisor(config.containerd_root, config.containerd_state,
                                         config.containerd_address, debug=config.debug)
        self.containerd = ContainerdClient(config.containerd_address)
        self.components = ComponentCache(config.runtime)

    def start(self) -> None:
        """Bring up (or adopt) containerd and wait until it answers."""
        if self.supervisor is not None:
            self.supervisor.start()
        else:
            from pyd_dockerd.libcontainerd.client import health_check

            if not health_check(self.config.containerd_address, timeout=5.0):
                log.warning("containerd is not answering", extra={
                    "address": self.config.containerd_address})

    def shutdown(self) -> None:
        """Stop what dockerd owns; containers keep running (live restore)."""
        self.containerd.close()
        if self.supervisor is not None:
            self.supervisor.stop()
        self.db.dispose()
