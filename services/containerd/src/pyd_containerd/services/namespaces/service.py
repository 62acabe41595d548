"""containerd.services.namespaces.v1.Namespaces over `NamespaceStore`."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyd_containerd.metadata.namespaces import Namespace, NamespaceStore
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2 as pb
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2_grpc as pb_grpc
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Namespaces"].full_name


def _to_pb(ns: Namespace) -> pb.Namespace:
    return pb.Namespace(name=ns.name, labels=ns.labels)


class NamespacesService(pb_grpc.NamespacesServicer):
    def __init__(self, store: NamespaceStore) -> None:
        self.store = store

    @abort_on_error
    def Get(self, request: pb.GetNamespaceRequest,
            context: grpc.ServicerContext) -> pb.GetNamespaceResponse:
        return pb.GetNamespaceResponse(namespace=_to_pb(self.store.get(request.name)))

    @abort_on_error
    def List(self, request: pb.ListNamespacesRequest,
             context: grpc.ServicerContext) -> pb.ListNamespacesResponse:
        return pb.ListNamespacesResponse(namespaces=[_to_pb(n) for n in self.store.list()])

    @abort_on_error
    def Create(self, request: pb.CreateNamespaceRequest,
               context: grpc.ServicerContext) -> pb.CreateNamespaceResponse:
        ns = self.store.create(Namespace(request.namespace.name, dict(request.namespace.labels)))
        return pb.CreateNamespaceResponse(namespace=_to_pb(ns))

    @abort_on_error
    def Update(self, request: pb.UpdateNamespaceRequest,
               context: grpc.ServicerContext) -> pb.UpdateNamespaceResponse:
        ns = self.store.update(Namespace(request.namespace.name, dict(request.namespace.labels)),
                               list(request.update_mask.paths))
        return pb.UpdateNamespaceResponse(namespace=_to_pb(ns))

    @abort_on_error
    def Delete(self, request: pb.DeleteNamespaceRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.store.delete(request.name)
        return empty_pb2.Empty()
