"""dockerd's event log (`pyd events`): lifecycle events kept in a bounded ring, fanned
out to live subscribers (moby's daemon/events)."""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

RING = 1024


@dataclass(frozen=True)
class Event:
    type: str                    # container, image, network, volume, checkpoint
    action: str                  # create, start, die, stop, destroy ...
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_nano: int = field(default_factory=time.time_ns)


class EventLog:
    def __init__(self) -> None:
        self._ring: deque[Event] = deque(maxlen=RING)
        self._subs: list[queue.SimpleQueue[Event | None]] = []
        self._lock = threading.Lock()

    def emit(self, type: str, action: str, id: str, attributes: dict[str, str]) -> None:
        ev = Event(type, action, id, dict(attributes))
        with self._lock:
            self._ring.append(ev)
            subs = list(self._subs)
        for q in subs:
            q.put(ev)

    def subscribe(self, since_nano: int = 0, until_nano: int = 0,
                  stop: threading.Event | None = None) -> Iterator[Event]:
        """Past events from `since_nano`, then live ones until `until_nano` (if given)
        or until `stop` is set."""
        q: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        with self._lock:
            past = [e for e in self._ring if since_nano and e.time_nano >= since_nano]
            self._subs.append(q)
        try:
            for e in past:
                if until_nano and e.time_nano > until_nano:
                    return
                yield e
            while not (stop and stop.is_set()):
                if until_nano and time.time_ns() > until_nano:
                    return
                try:
                    live = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if live is None or (until_nano and live.time_nano > until_nano):
                    return
                yield live
        finally:
            with self._lock:
                self._subs.remove(q)

    def close(self) -> None:
        with self._lock:
            for q in self._subs:
                q.put(None)
