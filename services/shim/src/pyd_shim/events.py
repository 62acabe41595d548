"""Publishing task events to containerd (upstream: the shim's ttrpc Events/Forward).

containerd listens for shims on `<containerd socket>.ttrpc` (TTRPC_ADDRESS);
events go out from one thread in order, each retried for a while, and are
dropped with a log line if containerd stays away (containerd rebuilds the
task state from the shim itself when it comes back).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from google.protobuf import timestamp_pb2

from pyd_proto import typeurl
from pyd_proto.containerd.services.events.v1 import events_pb2
from pyd_proto.containerd.types import event_pb2
from pyd_proto.errdefs import PydError
from pyd_shim import ttrpc
from pyd_shim.log import get_logger

log = get_logger("pyd.shim.events")

SERVICE = "containerd.services.events.ttrpc.v1.Events"


def timestamp(at: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return ts


def envelope(namespace: str, topic: str, event: Any, at: float | None = None) -> event_pb2.Envelope:
    packed = typeurl.marshal(event)  # bare type name, as upstream's shim writes it
    return event_pb2.Envelope(timestamp=timestamp(at or time.time()), namespace=namespace,
                              topic=topic, event=packed)


class Publisher:
    """Forwards envelopes to containerd's ttrpc Events service, in order."""

    def __init__(self, address: str, namespace: str, *, retries: int = 10) -> None:
        self.address = address
        self.namespace = namespace
        self.retries = retries
        self._queue: queue.Queue[event_pb2.Envelope | None] = queue.Queue()
        self._client: ttrpc.Client | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="events")
        self._thread.start()

    def publish(self, topic: str, event: Any) -> None:
        self._queue.put(envelope(self.namespace, topic, event))

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (for a short while), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            env = self._queue.get()
            if env is None:
                return
            if not self.address:
                continue
            for attempt in range(self.retries):
                try:
                    self._send(env)
                    break
                except PydError as e:
                    if self._client is not None:
                        self._client.close()
                        self._client = None
                    if attempt == self.retries - 1:
                        log.warning("event dropped", extra={"topic": env.topic, "error": str(e)})
                    else:
                        time.sleep(min(0.05 * 2 ** attempt, 1.0))

    def _send(self, env: event_pb2.Envelope) -> None:
        if self._client is None or self._client.closed:
            self._client = ttrpc.Client(self.address, timeout=2.0)
        self._client.call(SERVICE, "Forward", events_pb2.ForwardRequest(envelope=env),
                          _Empty(), timeout=5.0)


class _Empty:
    """google.protobuf.Empty without importing it: the answer carries nothing."""

    def SerializeToString(self, *, deterministic: bool = False) -> bytes:
        return b""

    def ParseFromString(self, serialized: bytes, /) -> int:
        return len(serialized)
