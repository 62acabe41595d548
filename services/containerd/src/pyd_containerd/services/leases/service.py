"""containerd.services.leases.v1.Leases over `LeaseStore`."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.gc import GarbageCollector
from pyd_containerd.leases.store import Lease, LeaseStore, Resource
from pyd_containerd.services.timestamps import to_pb
from pyd_proto.containerd.services.leases.v1 import leases_pb2 as pb
from pyd_proto.containerd.services.leases.v1 import leases_pb2_grpc as pb_grpc
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Leases"].full_name


def _lease_pb(le: Lease) -> pb.Lease:
    return pb.Lease(id=le.id, labels=le.labels, created_at=to_pb(le.created_at))


class LeasesService(pb_grpc.LeasesServicer):
    def __init__(self, store: LeaseStore, gc: GarbageCollector | None = None) -> None:
        self.store = store
        self.gc = gc

    @abort_on_error
    def Create(self, request: pb.CreateRequest,
               context: grpc.ServicerContext) -> pb.CreateResponse:
        ns = namespaces.from_context(context)
        return pb.CreateResponse(lease=_lease_pb(
            self.store.create(ns, Lease(request.id, dict(request.labels)))))

    @abort_on_error
    def Delete(self, request: pb.DeleteRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.delete(ns, request.id)
        if self.gc is not None:
            if request.sync:
                self.gc.collect([ns])
            else:
                self.gc.schedule()
        return empty_pb2.Empty()

    @abort_on_error
    def List(self, request: pb.ListRequest, context: grpc.ServicerContext) -> pb.ListResponse:
        ns = namespaces.from_context(context)
        return pb.ListResponse(leases=[_lease_pb(le)
                                       for le in self.store.list(ns, list(request.filters))])

    @abort_on_error
    def AddResource(self, request: pb.AddResourceRequest,
                    context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.add_resource(ns, request.id,
                                Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    @abort_on_error
    def DeleteResource(self, request: pb.DeleteResourceRequest,
                       context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.delete_resource(ns, request.id,
                                   Resource(request.resource.id, request.resource.type))
        return empty_pb2.Empty()

    @abort_on_error
    def ListResources(self, request: pb.ListResourcesRequest,
                      context: grpc.ServicerContext) -> pb.ListResourcesResponse:
        ns = namespaces.from_context(context)
        return pb.ListResourcesResponse(resources=[
            pb.Resource(id=r.id, type=r.type) for r in self.store.resources(ns, request.id)])
