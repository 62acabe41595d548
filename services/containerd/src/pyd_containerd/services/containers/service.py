"""containerd.services.containers.v1.Containers over `ContainerStore`."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.metadata.containers import Container, ContainerStore, Runtime
from pyd_containerd.services.timestamps import to_pb
from pyd_proto.containerd.events import container_pb2 as events
from pyd_proto.containerd.services.containers.v1 import containers_pb2 as pb
from pyd_proto.containerd.services.containers.v1 import containers_pb2_grpc as pb_grpc
from pyd_proto.errdefs import InvalidArgument, abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Containers"].full_name


def to_pb_container(c: Container) -> pb.Container:
    out = pb.Container(
        id=c.id, labels=c.labels, image=c.image,
        runtime=pb.Container.Runtime(name=c.runtime.name, options=c.runtime.options),
        spec=c.spec, snapshotter=c.snapshotter, snapshot_key=c.snapshot_key,
        created_at=to_pb(c.created_at), updated_at=to_pb(c.updated_at),
        sandbox=c.sandbox)
    for k, v in c.extensions.items():
        out.extensions[k].CopyFrom(v)
    return out


def from_pb_container(m: pb.Container) -> Container:
    return Container(
        id=m.id, labels=dict(m.labels), image=m.image,
        runtime=Runtime(m.runtime.name,
                        m.runtime.options if m.runtime.HasField("options") else None),
        spec=m.spec if m.HasField("spec") else None, snapshotter=m.snapshotter,
        snapshot_key=m.snapshot_key, extensions=dict(m.extensions), sandbox=m.sandbox)


class ContainersService(pb_grpc.ContainersServicer):
    def __init__(self, store: ContainerStore, exchange: Exchange | None = None) -> None:
        self.store = store
        self.exchange = exchange

    def _publish(self, ns: str, topic: str, event: events.ContainerCreate
                 | events.ContainerUpdate | events.ContainerDelete) -> None:
        if self.exchange is not None:
            self.exchange.publish(ns, topic, event)

    @abort_on_error
    def Get(self, request: pb.GetContainerRequest,
            context: grpc.ServicerContext) -> pb.GetContainerResponse:
        ns = namespaces.from_context(context)
        return pb.GetContainerResponse(container=to_pb_container(self.store.get(ns, request.id)))

    @abort_on_error
    def List(self, request: pb.ListContainersRequest,
             context: grpc.ServicerContext) -> pb.ListContainersResponse:
        ns = namespaces.from_context(context)
        return pb.ListContainersResponse(containers=[
            to_pb_container(c) for c in self.store.list(ns, list(request.filters))])

    @abort_on_error
    def ListStream(self, request: pb.ListContainersRequest,
                   context: grpc.ServicerContext) -> Iterator[pb.ListContainerMessage]:
        ns = namespaces.from_context(context)
        for c in self.store.list(ns, list(request.filters)):
            yield pb.ListContainerMessage(container=to_pb_container(c))

    @abort_on_error
    def Create(self, request: pb.CreateContainerRequest,
               context: grpc.ServicerContext) -> pb.CreateContainerResponse:
        ns = namespaces.from_context(context)
        c = self.store.create(ns, from_pb_container(request.container))
        self._publish(ns, "/containers/create", events.ContainerCreate(
            id=c.id, image=c.image,
            runtime=events.ContainerCreate.Runtime(name=c.runtime.name,
                                                   options=c.runtime.options)))
        return pb.CreateContainerResponse(container=to_pb_container(c))

    @abort_on_error
    def Update(self, request: pb.UpdateContainerRequest,
               context: grpc.ServicerContext) -> pb.UpdateContainerResponse:
        ns = namespaces.from_context(context)
        if not request.container.id:
            raise InvalidArgument("container id must be set")
        c = self.store.update(ns, from_pb_container(request.container),
                              list(request.update_mask.paths))
        self._publish(ns, "/containers/update", events.ContainerUpdate(
            id=c.id, image=c.image, labels=c.labels, snapshot_key=c.snapshot_key))
        return pb.UpdateContainerResponse(container=to_pb_container(c))

    @abort_on_error
    def Delete(self, request: pb.DeleteContainerRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.delete(ns, request.id)
        self._publish(ns, "/containers/delete", events.ContainerDelete(id=request.id))
        return empty_pb2.Empty()
