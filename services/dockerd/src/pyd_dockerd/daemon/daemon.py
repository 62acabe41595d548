"""The dockerd core object (moby's daemon.Daemon): configuration, metadata, containerd,
images, containers, networks, volumes, events. API servicers call into it and the
per-operation modules beside it (create.py, start.py, stop.py, delete.py ...); it never
sees a gRPC context."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from pyd_db.database import open_database
from pyd_dockerd.config import Config
from pyd_dockerd.container.container import Container
from pyd_dockerd.daemon.components import ComponentCache
from pyd_dockerd.daemon.events import EventLog
from pyd_dockerd.daemon.exec import ExecStore
from pyd_dockerd.daemon.monitor import Monitor
from pyd_dockerd.images.service import ImageService
from pyd_dockerd.libcontainerd.client import ContainerdClient
from pyd_dockerd.libcontainerd.supervisor import Supervisor, find_binary
from pyd_dockerd.network.controller import NetworkController, NetworkOptions
from pyd_dockerd.store.containers import ContainerStore
from pyd_dockerd.store.engine import engine_id
from pyd_dockerd.volumes.local import VolumeStore
from pyd_proto.errdefs import NotFound

if TYPE_CHECKING:
    import grpc

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
            # An absolute path: the shims that run it do not share dockerd's PATH.
            runtime = config.runtime
            if "/" not in runtime:
                with contextlib.suppress(FileNotFoundError):
                    runtime = find_binary(runtime)
            self.supervisor = Supervisor(config.containerd_root, config.containerd_state,
                                         config.containerd_address, debug=config.debug,
                                         runtime=runtime,
                                         runtime_root=config.runtime_root)
        self.containerd = ContainerdClient(config.containerd_address)
        self.components = ComponentCache(config.runtime)
        self.containers = ContainerStore(self.db, config.containers_root)
        self.network = NetworkController(self.db, self.containers, NetworkOptions(
            bridge_name=config.bridge_name, bip=config.bip, iptables=config.iptables,
            netns_dir=config.netns_dir))
        self.volumes = VolumeStore(self.db, config.volumes_root)
        self.images = ImageService(self.containerd)
        self.events = EventLog()
        self.execs = ExecStore()
        self.monitor = Monitor(self)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Bring up (or adopt) containerd, the networks and the default image, then
        reconcile containers with what kept running while dockerd was away."""
        if self.supervisor is not None:
            self.supervisor.start()
        else:
            from pyd_dockerd.libcontainerd.client import health_check

            if not health_check(self.config.containerd_address, timeout=5.0):
                log.warning("containerd is not answering", extra={
                    "address": self.config.containerd_address})
        self.network.init()
        self._recover_interrupted()
        try:
            self.images.ensure_default()
        except Exception as e:  # the engine still serves; `run busybox` will say why
            log.warning("could not load the embedded image", extra={"error": str(e)})
        self.monitor.start()
        running = {c.id for c in self.containers.list() if c.state.running}
        self.network.reconcile(running)
        self._restart_policies_at_boot()

    def _recover_interrupted(self) -> None:
        """What a kill of the previous dockerd cut short: removals (delete.py),
        half-written checkpoints, and tasks of starts or restores it never recorded
        (daemon/checkpoint.py, start.py)."""
        from pyd_dockerd.daemon import checkpoint
        from pyd_dockerd.daemon.delete import mark_interrupted_removals_dead
        from pyd_dockerd.daemon.start import cleanup_interrupted

        try:
            mark_interrupted_removals_dead(self)
            cleanup_interrupted(self)
            checkpoint.recover(self)
        except Exception:
            log.exception("recovering after a crash failed")

    def _restart_policies_at_boot(self) -> None:
        """`always` containers, and `unless-stopped` ones not stopped by the user, that
        are not running when dockerd starts are started again (moby restore())."""
        from pyd_dockerd.daemon.start import start

        for c in self.containers.list():
            name, _ = c.restart_policy
            if c.state.running or name not in ("always", "unless-stopped"):
                continue
            if c.manually_stopped:
                continue
            threading.Thread(target=self._quiet_start, args=(start, c.id), daemon=True).start()

    def _quiet_start(self, start: object, cid: str) -> None:
        try:
            start(self, cid, restart=True)  # type: ignore[operator]
        except Exception as e:
            log.warning("restart at boot failed", extra={"id": cid, "error": str(e)})

    def shutdown(self) -> None:
        """Stop what dockerd owns; containers keep running (live restore)."""
        self.monitor.stop()
        self.events.close()
        with contextlib.suppress(Exception):
            self.network.shutdown()
        self.containerd.close()
        if self.supervisor is not None:
            self.supervisor.stop()
        self.db.dispose()

    # ---------------------------------------------------------------- helpers
    @contextlib.contextmanager
    def locked(self, ref: str) -> Iterator[Container]:
        """The container `ref`, re-read under its lock (moby's container.Lock)."""
        cid = self.containers.resolve_id(ref)
        with self._locks_guard:
            lock = self._locks.setdefault(cid, threading.RLock())
        with lock:
            yield self.containers.get(cid)

    def rootfs_hint(self, c: Container) -> str:
        """A directory holding the image's files, for user and init lookups before the
        rootfs is mounted: the snapshot's lowest layer path is not known here, so the
        container's own prepared snapshot is read through containerd's mounts."""
        try:
            for m in self.containerd.snapshot_mounts(c.id):
                for opt in m.options:
                    if opt.startswith("lowerdir="):
                        return str(opt.split("=", 1)[1].split(":")[0])
                if m.type == "bind":
                    return str(m.source)
        except NotFound:
            pass
        return "/nonexistent"

    def stdin_fifo(self, c: Container) -> str:
        """The fifo the shim reads the container's stdin from (`-i`); attach writes it."""
        path = os.path.join(self.config.state, "stdin", c.id)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        if not os.path.exists(path):
            os.mkfifo(path, 0o600)
        return path

    def upper_dir(self, c: Container) -> str:
        """The container's read-write layer (its overlay upperdir)."""
        for m in self.containerd.snapshot_mounts(c.id):
            for opt in m.options:
                if opt.startswith("upperdir="):
                    return str(opt.split("=", 1)[1])
        raise NotFound(f"container {c.id} has no read-write layer")

    def checkpoint_path(self, c: Container, name: str, directory: str) -> str:
        """The image directory of checkpoint `name` of `c` (under the container, or in
        `directory`); NotFound unless it was completely written."""
        from pyd_dockerd.daemon import checkpoint

        return checkpoint.get(self, c, name, directory).path

    # ---------------------------------------------------------------- checkpoints
    def transfer_channel(self, endpoint: str) -> grpc.Channel:
        """A channel to another host's checkpoint server (mutual TLS when configured)."""
        import grpc

        if not self.config.tls:
            return grpc.insecure_channel(endpoint)
        with open(self.config.tlscacert, "rb") as ca, open(self.config.tlscert, "rb") as crt, \
                open(self.config.tlskey, "rb") as key:
            creds = grpc.ssl_channel_credentials(ca.read(), key.read(), crt.read())
        return grpc.secure_channel(endpoint, creds)

    def checkpoint_address(self, container: str, checkpoint: str) -> str:
        """The address other hosts restore this checkpoint from ("" when not serving)."""
        if not self.config.checkpoint_listen:
            return ""
        return f"pyd://{self.config.checkpoint_listen}/{container}/{checkpoint}"

    def exec_exited(self, container_id: str, exec_id: str, status: int) -> None:
        """An exec'd process ended (exec support records it; nothing to do yet)."""
        log.debug("exec exited", extra={"id": container_id, "exec_id": exec_id,
                                        "status": status})
