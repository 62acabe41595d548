"""`make_server(config)`: pyd-containerd's daemon, built without touching argv."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import timedelta

from pyd_containerd.config import Config
from pyd_containerd.content.local import LocalStore
from pyd_containerd.diff.walking import Differ
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.gc import GarbageCollector
from pyd_containerd.images.exporter import Exporter
from pyd_containerd.images.importer import Importer
from pyd_containerd.images.pull import Puller
from pyd_containerd.images.store import ImageStore
from pyd_containerd.leases.store import LeaseStore
from pyd_containerd.metadata.containers import ContainerStore
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.metadata.namespaces import NamespaceStore
from pyd_containerd.runtime.events_ttrpc import EventsEndpoint
from pyd_containerd.runtime.shim_manager import ShimManager
from pyd_containerd.services import validation
from pyd_containerd.services.containers import service as containers
from pyd_containerd.services.content import service as content
from pyd_containerd.services.diff import service as diff
from pyd_containerd.services.events import service as events
from pyd_containerd.services.images import service as images
from pyd_containerd.services.introspection import service as introspection
from pyd_containerd.services.leases import service as leases
from pyd_containerd.services.namespaces import service as namespaces
from pyd_containerd.services.snapshots import service as snapshots
from pyd_containerd.services.tasks import service as tasks
from pyd_containerd.services.transfer import service as transfer
from pyd_containerd.services.version import service as version
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_containerd.tasks.manager import TaskManager
from pyd_db.database import open_database
from pyd_proto.containerd.cgroups.v1 import metrics_pb2  # noqa: F401 (reflection of Any)
from pyd_proto.containerd.services.containers.v1 import containers_pb2_grpc
from pyd_proto.containerd.services.content.v1 import content_pb2_grpc
from pyd_proto.containerd.services.diff.v1 import diff_pb2_grpc
from pyd_proto.containerd.services.events.v1 import events_pb2_grpc
from pyd_proto.containerd.services.images.v1 import images_pb2_grpc
from pyd_proto.containerd.services.introspection.v1 import introspection_pb2_grpc
from pyd_proto.containerd.services.leases.v1 import leases_pb2_grpc
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2_grpc
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2_grpc
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2_grpc
from pyd_proto.containerd.services.version.v1 import version_pb2_grpc
from pyd_proto.pyd.containerd.v1 import transfer_pb2_grpc
from pyd_proto.server import Daemon, prepare_socket_path

log = logging.getLogger("pyd.containerd")


def make_server(config: Config) -> Daemon:
    """Open the metadata database, build the services and register them on a `Daemon`."""
    for d in (config.root, config.state):
        os.makedirs(d, mode=0o711, exist_ok=True)
    engine = open_database(config.db_path, "containerd")
    daemon = Daemon("pyd-containerd", config.socket_path, rules=validation.RULES)
    daemon.add(version_pb2_grpc.add_VersionServicer_to_server, version.VersionService(),
               version.SERVICE)
    daemon.add(namespace_pb2_grpc.add_NamespacesServicer_to_server,
               namespaces.NamespacesService(NamespaceStore(engine)), namespaces.SERVICE)
    exchange = Exchange()  # in-process publishers (tasks, metadata) call exchange.publish
    daemon.add(events_pb2_grpc.add_EventsServicer_to_server, events.EventsService(exchange),
               events.SERVICE)
    container_store = ContainerStore(engine)
    daemon.add(containers_pb2_grpc.add_ContainersServicer_to_server,
               containers.ContainersService(container_store, exchange), containers.SERVICE)
    lease_store = LeaseStore(engine)
    content_store = ContentStore(engine, LocalStore(
        os.path.join(config.root, "io.containerd.content.v1.content")))
    daemon.add(content_pb2_grpc.add_ContentServicer_to_server,
               content.ContentService(content_store, exchange, lease_store), content.SERVICE)
    overlay = OverlaySnapshotter(engine, os.path.join(
        config.root, "io.containerd.snapshotter.v1.overlayfs"))
    overlay.cleanup()  # directories a crash left without a record
    daemon.add(snapshots_pb2_grpc.add_SnapshotsServicer_to_server,
               snapshots.SnapshotsService({overlay.name: overlay}, exchange, lease_store),
               snapshots.SERVICE)
    gc = GarbageCollector(engine, content_store, {overlay.name: overlay},
                          active_grace=timedelta(seconds=60))
    daemon.add(leases_pb2_grpc.add_LeasesServicer_to_server,
               leases.LeasesService(lease_store, gc), leases.SERVICE)
    image_store = ImageStore(engine)
    daemon.add(images_pb2_grpc.add_ImagesServicer_to_server,
               images.ImagesService(image_store, exchange, gc), images.SERVICE)
    importer = Importer(image_store, content_store, {overlay.name: overlay}, lease_store, gc)
    puller = Puller(image_store, content_store, {overlay.name: overlay}, lease_store, gc)
    daemon.add(transfer_pb2_grpc.add_TransferServicer_to_server,
               transfer.TransferService(importer, os.path.join(config.root, "tmp"), exchange,
                                        puller, Exporter(image_store, content_store)),
               transfer.SERVICE)
    differ = Differ(content_store, config.root)
    daemon.add(diff_pb2_grpc.add_DiffServicer_to_server, diff.DiffService(differ, lease_store),
               diff.SERVICE)
    daemon.on_stop(gc.stop)
    # Tasks: shims speak ttrpc; they publish events on <socket>.ttrpc, tasks are rebuilt
    # from the shims still running (a containerd killed with -9 loses none). A live
    # containerd on the same socket is refused before its shims and zygote are touched.
    prepare_socket_path(config.socket_path)
    shims = ShimManager(config.state, config.socket_path, config.ttrpc_path,
                        shim_binary=config.shim_binary)
    task_manager = TaskManager(
        shims, container_store.get, {overlay.name: overlay}, exchange,
        runtime_binary=config.runtime_binary,
        runtime_root=config.runtime_root or os.path.join(config.state, "runc"),
        debug=config.debug)
    shim_events = EventsEndpoint(config.ttrpc_path, exchange)
    task_manager.load()
    daemon.add(tasks_pb2_grpc.add_TasksServicer_to_server, tasks.TasksService(task_manager),
               tasks.SERVICE)
    daemon.add(introspection_pb2_grpc.add_IntrospectionServicer_to_server,
               introspection.IntrospectionService(introspection.Introspection(
                   config.root, lambda: _plugins(config, overlay, shims, daemon.services))),
               introspection.SERVICE)
    daemon.on_stop(shim_events.close)
    daemon.on_stop(task_manager.close)
    daemon.on_stop(engine.dispose)
    log.info("pyd-containerd configured", extra={"root": config.root, "state": config.state})
    return daemon


def _plugins(config: Config, overlay: OverlaySnapshotter, shims: ShimManager,
             services: Sequence[str]) -> list[introspection.Plugin]:
    """The daemon's parts under upstream's plugin types and ids (`ctr plugins ls`)."""
    P, it = introspection.Plugin, introspection
    linux = (f"linux/{platform_arch()}",)
    parts = [
        P(it.CONTENT, "content", exports={
            "root": os.path.join(config.root, "io.containerd.content.v1.content")}),
        P(it.SNAPSHOTTER, overlay.name, platforms=linux, exports={"root": overlay.root}),
        P(it.METADATA, "sqlite", (it.CONTENT, it.SNAPSHOTTER),
          exports={"path": config.db_path}),
        P(it.DIFFER, "walking", (it.METADATA,), platforms=linux),
        P(it.EVENT, "exchange"),
        P(it.GC, "scheduler", (it.METADATA,)),
        P(it.LEASE, "manager", (it.METADATA,)),
        P(it.RUNTIME, "task", (it.EVENT, it.METADATA), platforms=linux,
          exports={"state": shims.root}),
    ]
    grpc_ids = [introspection.grpc_plugin_id(s) for s in
                (*services, "grpc.health.v1.Health")]
    parts += [P(it.GRPC, i, (it.SERVICE_PLUGIN,)) for i in sorted(grpc_ids)]
    return parts


def platform_arch() -> str:
    """The machine's architecture in OCI's words (amd64, arm64 ...)."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)
