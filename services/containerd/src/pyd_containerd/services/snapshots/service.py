"""containerd.services.snapshots.v1.Snapshots over the snapshotters (`overlayfs`)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.leases.context import from_context as lease_from_context
from pyd_containerd.leases.store import SNAPSHOTS_PREFIX, LeaseStore, Resource
from pyd_containerd.services.timestamps import to_pb
from pyd_containerd.snapshots import Info, Kind, Mount
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.containerd.events import snapshot_pb2 as events
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2 as pb
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2_grpc as pb_grpc
from pyd_proto.containerd.types import mount_pb2
from pyd_proto.errdefs import InvalidArgument, abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Snapshots"].full_name
DEFAULT = "overlayfs"
LIST_BATCH = 100


def mounts_pb(mounts: list[Mount]) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type=m.type, source=m.source, target=m.target, options=m.options)
            for m in mounts]


def _info_pb(i: Info) -> pb.Info:
    return pb.Info(name=i.name, parent=i.parent, kind=int(i.kind),  # type: ignore[arg-type]
                   labels=i.labels, created_at=to_pb(i.created_at),
                   updated_at=to_pb(i.updated_at))


class SnapshotsService(pb_grpc.SnapshotsServicer):
    def __init__(self, snapshotters: dict[str, OverlaySnapshotter],
                 exchange: Exchange | None = None, leases: LeaseStore | None = None) -> None:
        self.snapshotters = snapshotters
        self.exchange = exchange
        self.leases = leases

    def _hold(self, context: grpc.ServicerContext, ns: str, snapshotter: str, key: str) -> None:
        """Put the snapshot under the caller's lease (`containerd-lease` metadata), if any."""
        lease = lease_from_context(context)
        if lease and self.leases is not None:
            self.leases.add_resource(ns, lease,
                                     Resource(key, SNAPSHOTS_PREFIX + (snapshotter or DEFAULT)))

    def _sn(self, name: str) -> OverlaySnapshotter:
        sn = self.snapshotters.get(name or DEFAULT)
        if sn is None:
            raise InvalidArgument(f"snapshotter not loaded: {name}")
        return sn

    def _publish(self, ns: str, topic: str, event: events.SnapshotPrepare
                 | events.SnapshotCommit | events.SnapshotRemove) -> None:
        if self.exchange is not None:
            self.exchange.publish(ns, topic, event)

    @abort_on_error
    def Prepare(self, request: pb.PrepareSnapshotRequest,
                context: grpc.ServicerContext) -> pb.PrepareSnapshotResponse:
        ns = namespaces.from_context(context)
        self._hold(context, ns, request.snapshotter, request.key)
        mounts = self._sn(request.snapshotter).prepare(ns, request.key, request.parent,
                                                       dict(request.labels))
        self._publish(ns, "/snapshot/prepare", events.SnapshotPrepare(
            key=request.key, parent=request.parent, snapshotter=request.snapshotter or DEFAULT))
        return pb.PrepareSnapshotResponse(mounts=mounts_pb(mounts))

    @abort_on_error
    def View(self, request: pb.ViewSnapshotRequest,
             context: grpc.ServicerContext) -> pb.ViewSnapshotResponse:
        ns = namespaces.from_context(context)
        self._hold(context, ns, request.snapshotter, request.key)
        mounts = self._sn(request.snapshotter).view(ns, request.key, request.parent,
                                                    dict(request.labels))
        return pb.ViewSnapshotResponse(mounts=mounts_pb(mounts))

    @abort_on_error
    def Mounts(self, request: pb.MountsRequest,
               context: grpc.ServicerContext) -> pb.MountsResponse:
        ns = namespaces.from_context(context)
        return pb.MountsResponse(mounts=mounts_pb(
            self._sn(request.snapshotter).mounts(ns, request.key)))

    @abort_on_error
    def Commit(self, request: pb.CommitSnapshotRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self._hold(context, ns, request.snapshotter, request.name)
        self._sn(request.snapshotter).commit(ns, request.name, request.key,
                                             dict(request.labels) or None)
        self._publish(ns, "/snapshot/commit", events.SnapshotCommit(
            key=request.key, name=request.name, snapshotter=request.snapshotter or DEFAULT))
        return empty_pb2.Empty()

    @abort_on_error
    def Remove(self, request: pb.RemoveSnapshotRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self._sn(request.snapshotter).remove(ns, request.key)
        self._publish(ns, "/snapshot/remove", events.SnapshotRemove(
            key=request.key, snapshotter=request.snapshotter or DEFAULT))
        return empty_pb2.Empty()

    @abort_on_error
    def Stat(self, request: pb.StatSnapshotRequest,
             context: grpc.ServicerContext) -> pb.StatSnapshotResponse:
        ns = namespaces.from_context(context)
        return pb.StatSnapshotResponse(info=_info_pb(
            self._sn(request.snapshotter).stat(ns, request.key)))

    @abort_on_error
    def Update(self, request: pb.UpdateSnapshotRequest,
               context: grpc.ServicerContext) -> pb.UpdateSnapshotResponse:
        ns = namespaces.from_context(context)
        info = Info(name=request.info.name, parent=request.info.parent,
                    kind=Kind(request.info.kind), labels=dict(request.info.labels))
        return pb.UpdateSnapshotResponse(info=_info_pb(self._sn(request.snapshotter).update(
            ns, info, list(request.update_mask.paths))))

    @abort_on_error
    def List(self, request: pb.ListSnapshotsRequest,
             context: grpc.ServicerContext) -> Iterator[pb.ListSnapshotsResponse]:
        ns = namespaces.from_context(context)
        infos = self._sn(request.snapshotter).list(ns, list(request.filters))
        for i in range(0, len(infos), LIST_BATCH):
            yield pb.ListSnapshotsResponse(info=[_info_pb(x) for x in infos[i:i + LIST_BATCH]])

    @abort_on_error
    def Usage(self, request: pb.UsageRequest,
              context: grpc.ServicerContext) -> pb.UsageResponse:
        ns = namespaces.from_context(context)
        u = self._sn(request.snapshotter).usage(ns, request.key)
        return pb.UsageResponse(size=u.size, inodes=u.inodes)

    @abort_on_error
    def Cleanup(self, request: pb.CleanupRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._sn(request.snapshotter).cleanup()
        return empty_pb2.Empty()
