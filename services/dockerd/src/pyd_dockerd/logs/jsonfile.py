"""Docker's json-file log format: one JSON object per line,
`{"log": "text\\n", "stream": "stdout", "time": "2024-01-01T00:00:00.000000000Z"}`,
rotated to <name>.1, <name>.2 ... The shim writes it; dockerd only reads it, so logs
survive a dockerd restart."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Entry:
    stream: str          # "stdout" or "stderr"
    data: bytes
    time: datetime


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    main, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if frac:
        dt = dt.replace(microsecond=int((frac + "000000")[:6]))
    return dt


def format_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def encode(stream: str, data: bytes, when: datetime | None = None) -> bytes:
    """One json-file line (the writer's half; the shim has its own copy of this rule)."""
    return json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                       "time": format_time(when or datetime.now(UTC))}).encode() + b"\n"


def _decode(line: bytes) -> Entry | None:
    try:
        doc = json.loads(line)
        return Entry(doc.get("stream", "stdout"), doc.get("log", "").encode(),
                     parse_time(doc["time"]))
    except (ValueError, KeyError):
        return None


def files(path: str) -> list[str]:
    """The log and its rotations, oldest first."""
    rotated = []
    n = 1
    while os.path.exists(f"{path}.{n}"):
        rotated.append(f"{path}.{n}")
        n += 1
    return [*reversed(rotated), path]


def read(path: str, *, since: datetime | None = None, until: datetime | None = None,
         tail: int = -1, follow: bool = False,
         running: Callable[[], bool] = lambda: False,
         stopped: Callable[[], bool] = lambda: False) -> Iterator[Entry]:
    """Entries in order; with `follow`, then new ones until the container stops."""
    entries: list[Entry] = []
    consumed = 0  # bytes of `path` itself read here: following goes on from there
    for name in files(path):
        try:
            with open(name, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a line the shim is still writing: following reads it
                    if name == path:
                        consumed += len(line)
                    e = _decode(line)
                    if e and (since is None or e.time >= since) and (
                            until is None or e.time <= until):
                        entries.append(e)
        except FileNotFoundError:
            continue
    if tail >= 0:
        entries = entries[-tail:] if tail else []
    yield from entries
    if not follow:
        return
    # From where the read stopped, not from the file's end: what the shim wrote in
    # between (or the whole file, when it did not exist yet) is not lost.
    for e in follow_from(path, consumed, lambda: stopped() or not running()):
        if stopped():
            return
        if (since is None or e.time >= since) and (until is None or e.time <= until):
            yield e


def size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def follow_from(path: str, offset: int, done: Callable[[], bool],
                poll: float = 0.05) -> Iterator[Entry]:
    """Entries written after byte `offset` (the file may not exist yet), until `done()`
    is true and what was written before it has been read."""
    partial = b""
    finishing = False
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            partial += data
            *lines, partial = partial.split(b"\n")
            for line in lines:
                e = _decode(line)
                if e:
                    yield e
            continue
        if finishing:
            return
        if done():
            finishing = True  # one more read: what the shim wrote just before the exit
            continue
        time.sleep(poll)
