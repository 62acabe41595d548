"""containerd's ttrpc endpoint for shims: `<socket>.ttrpc`, serving Events/Forward.

Shims speak ttrpc, not gRPC (see services/shim/README.md), so they publish
their task events here; each envelope goes to the event exchange as is.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

from google.protobuf import empty_pb2

from pyd_proto.containerd.services.events.v1 import events_pb2
from pyd_proto.containerd.types import event_pb2
from pyd_shim import ttrpc

log = logging.getLogger("pyd.containerd.ttrpc")

SERVICE = "containerd.services.events.ttrpc.v1.Events"


class Forwarder(Protocol):
    def forward(self, envelope: event_pb2.Envelope) -> None: ...


class EventsEndpoint:
    """The listener and its thread; `close()` stops both."""

    def __init__(self, path: str, exchange: Forwarder) -> None:
        self.path = path
        self.server = ttrpc.Server()
        self.server.register(SERVICE, "Forward", events_pb2.ForwardRequest,
                             lambda req, _call: self._forward(exchange, req))
        self.server.register(SERVICE, "Publish", events_pb2.PublishRequest,
                             lambda req, call: self._publish(exchange, req, call))
        listener = ttrpc.listen(path)
        os.chmod(path, 0o600)
        self._thread = threading.Thread(target=self.server.serve, args=(listener,),
                                        daemon=True, name="ttrpc-events")
        self._thread.start()
        log.info("serving shim events", extra={"address": f"unix://{path}"})

    @staticmethod
    def _forward(exchange: Forwarder, req: events_pb2.ForwardRequest) -> empty_pb2.Empty:
        exchange.forward(req.envelope)
        return empty_pb2.Empty()

    @staticmethod
    def _publish(exchange: Forwarder, req: events_pb2.PublishRequest,
                 call: ttrpc.Call) -> empty_pb2.Empty:
        env = event_pb2.Envelope(namespace=call.namespace or "default", topic=req.topic,
                                 event=req.event)
        env.timestamp.GetCurrentTime()
        exchange.forward(env)
        return empty_pb2.Empty()

    def close(self) -> None:
        self.server.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
