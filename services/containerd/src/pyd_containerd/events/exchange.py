"""The event exchange (containerd's events/exchange): publish, forward, subscribe.

In-process publishers (the Tasks service, the metadata servicers) call
`publish(namespace, topic, message)`; remote ones come through the Events
service's Publish/Forward. Subscribers get every envelope matching their
filters (`topic==/tasks/exit`, `namespace==moby`, `topic~=/tasks/`), in order.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Iterator, Sequence

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from pyd_containerd import identifiers
from pyd_containerd.metadata import filters
from pyd_proto import typeurl
from pyd_proto.containerd.types import event_pb2
from pyd_proto.errdefs import InvalidArgument

log = logging.getLogger("pyd.containerd.events")

_TOPIC = re.compile(r"^/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
MAX_QUEUED = 10000


def pack(message: Message) -> any_pb2.Any:
    """`message` as an `Any` with upstream's type URL, its bare full name
    (`containerd.events.TaskExit`): `ctr` 1.6 resolves no other form. Readers use
    `pyd_proto.typeurl.unmarshal`."""
    return typeurl.marshal(message)


def validate_topic(topic: str) -> str:
    if not _TOPIC.match(topic):
        raise InvalidArgument(f"topic {topic!r}: must be a path of identifiers starting with /")
    return topic


def _getter(env: event_pb2.Envelope) -> filters.Getter:
    def get(path: list[str]) -> tuple[str, bool]:
        if path == ["namespace"]:
            return env.namespace, bool(env.namespace)
        if path == ["topic"]:
            return env.topic, bool(env.topic)
        return "", False
    return get


class Subscription:
    """A subscriber's queue; iterate it (blocking) until `close()`."""

    def __init__(self, exchange: Exchange, flt: filters.Filter) -> None:
        self._exchange = exchange
        self.filter = flt
        self._queue: queue.Queue[event_pb2.Envelope | None] = queue.Queue()
        self.closed = False
        self.dropped = 0

    def _offer(self, env: event_pb2.Envelope) -> None:
        if self.closed or not self.filter.match(_getter(env)):
            return
        if self._queue.qsize() >= MAX_QUEUED:  # a stuck subscriber must not eat all memory
            self.dropped += 1
            return
        self._queue.put(env)

    def get(self, timeout: float | None = None) -> event_pb2.Envelope | None:
        """The next envelope, or None on timeout or once closed."""
        if self.closed and self._queue.empty():
            return None
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._exchange._remove(self)
            self._queue.put(None)

    def __iter__(self) -> Iterator[event_pb2.Envelope]:
        while True:
            env = self.get()
            if env is None:
                return
            yield env

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Exchange:
    """Fan-out of event envelopes to subscribers; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []

    def publish(self, namespace: str, topic: str, event: Message | any_pb2.Any) -> None:
        """Publish `event` under `topic` in `namespace` (stamped now)."""
        identifiers.validate(namespace)
        validate_topic(topic)
        ts = timestamp_pb2.Timestamp()
        ts.GetCurrentTime()
        body = event if isinstance(event, any_pb2.Any) else pack(event)
        self.forward(event_pb2.Envelope(timestamp=ts, namespace=namespace, topic=topic,
                                        event=body))

    def forward(self, envelope: event_pb2.Envelope) -> None:
        """Send an already-stamped envelope (from a shim or another exchange) on."""
        identifiers.validate(envelope.namespace)
        validate_topic(envelope.topic)
        log.debug("event", extra={"namespace": envelope.namespace, "topic": envelope.topic})
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s._offer(envelope)

    def subscribe(self, filter_strs: Sequence[str] = ()) -> Subscription:
        """A new subscription receiving envelopes that match any of `filter_strs`."""
        sub = Subscription(self, filters.parse(filter_strs))
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
