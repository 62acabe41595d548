"""containerd.services.events.v1.Events over the in-process `Exchange`."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.events.exchange import Exchange
from pyd_proto.containerd.services.events.v1 import events_pb2 as pb
from pyd_proto.containerd.services.events.v1 import events_pb2_grpc as pb_grpc
from pyd_proto.containerd.types import event_pb2
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Events"].full_name


class EventsService(pb_grpc.EventsServicer):
    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    @abort_on_error
    def Publish(self, request: pb.PublishRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.exchange.publish(namespaces.from_context(context), request.topic, request.event)
        return empty_pb2.Empty()

    @abort_on_error
    def Forward(self, request: pb.ForwardRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.exchange.forward(request.envelope)
        return empty_pb2.Empty()

    @abort_on_error
    def Subscribe(self, request: pb.SubscribeRequest,
                  context: grpc.ServicerContext) -> Iterator[event_pb2.Envelope]:
        sub = self.exchange.subscribe(list(request.filters))
        context.add_callback(sub.close)
        try:
            while context.is_active() and not sub.closed:
                env = sub.get(timeout=0.5)
                if env is not None:
                    yield env
        finally:
            sub.close()
