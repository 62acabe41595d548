"""containerd.services.diff.v1.Diff over the walking differ (`pyd_containerd.diff`)."""

from __future__ import annotations

import grpc

from pyd_containerd import namespaces
from pyd_containerd.diff.walking import Differ, Layer
from pyd_containerd.leases.context import from_context as lease_from_context
from pyd_containerd.leases.store import CONTENT, LeaseStore, Resource
from pyd_containerd.snapshots import Mount
from pyd_proto.containerd.services.diff.v1 import diff_pb2 as pb
from pyd_proto.containerd.services.diff.v1 import diff_pb2_grpc as pb_grpc
from pyd_proto.containerd.types import descriptor_pb2, mount_pb2
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Diff"].full_name


def _mounts(ms: list[mount_pb2.Mount]) -> list[Mount]:
    return [Mount(m.type, m.source, list(m.options), m.target) for m in ms]


def _desc(layer: Layer) -> descriptor_pb2.Descriptor:
    return descriptor_pb2.Descriptor(media_type=layer.media_type, digest=layer.digest,
                                     size=layer.size, annotations=layer.annotations)


class DiffService(pb_grpc.DiffServicer):
    def __init__(self, differ: Differ, leases: LeaseStore | None = None) -> None:
        self.differ = differ
        self.leases = leases

    @abort_on_error
    def Apply(self, request: pb.ApplyRequest, context: grpc.ServicerContext) -> pb.ApplyResponse:
        ns = namespaces.from_context(context)
        d = request.diff
        applied = self.differ.apply(ns, Layer(d.media_type, d.digest, d.size),
                                    _mounts(list(request.mounts)), request.sync_fs)
        return pb.ApplyResponse(applied=_desc(applied))

    @abort_on_error
    def Diff(self, request: pb.DiffRequest, context: grpc.ServicerContext) -> pb.DiffResponse:
        ns = namespaces.from_context(context)
        epoch = request.source_date_epoch.seconds \
            if request.HasField("source_date_epoch") else None
        layer = self.differ.compare(ns, _mounts(list(request.left)),
                                    _mounts(list(request.right)),
                                    media_type=request.media_type, ref=request.ref,
                                    labels=dict(request.labels), source_date_epoch=epoch)
        # the new blob belongs to the caller's lease, as content written under it does
        lease = lease_from_context(context)
        if lease and self.leases is not None:
            self.leases.add_resource(ns, lease, Resource(layer.digest, CONTENT))
        return pb.DiffResponse(diff=_desc(layer))
