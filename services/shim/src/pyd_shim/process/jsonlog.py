"""Docker's json-file log driver, run by the shim so logs keep being written while
dockerd is down: `jsonfile:///path/c-json.log?max-size=10m&max-file=3`.

Each line of output becomes `{"log": "...\\n", "stream": "stdout", "time": "...Z"}`;
when the file passes max-size it is rotated to .1, .2 ... (max-file in all)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from urllib.parse import parse_qs, urlsplit

SCHEME = "jsonfile://"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(text: str) -> int:
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in "bkmg" else ""
    return int(float(text[: len(text) - len(unit)] or 0) * _UNITS[unit])


def _now() -> str:
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1_000_000_000)) + \
        f".{t % 1_000_000_000:09d}Z"


class JsonFileWriter:
    """One log file shared by a process's stdout and stderr (a lock keeps lines whole)."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        self.path = parts.path
        query = parse_qs(parts.query)
        self.max_size = _size(query.get("max-size", ["0"])[0])   # 0: never rotate
        self.max_file = max(1, int(query.get("max-file", ["1"])[0]))
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                           "time": _now()}).encode() + b"\n"
        with self._lock:
            if self.max_size and self._size + len(line) > self.max_size and self._size:
                self._rotate()
            os.write(self._fd, line)
            self._size += len(line)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file > 1:
            for n in range(self.max_file - 1, 0, -1):
                src = self.path if n == 1 else f"{self.path}.{n - 1}"
                with contextlib.suppress(FileNotFoundError):
                    os.replace(src, f"{self.path}.{n}")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC |
                           os.O_CLOEXEC, 0o640)
        self._size = 0

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            os.close(self._fd)


def copy(src: int, writer: JsonFileWriter, stream: str, *, close_src: bool = True) -> None:
    """Read `src` until EOF and write it line by line; a read that ends mid-line
    writes what it has as a partial entry."""
    pending = b""
    try:
        while True:
            try:
                data = os.read(src, 32768)
            except OSError:
                break
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                writer.write(stream, line + b"\n")
            if pending:
                # What a read ended with goes out now, as a partial line (docker's
                # copier does the same): a shell prompt has no newline to wait for.
                writer.write(stream, pending)
                pending = b""
    finally:
        if close_src:
            with contextlib.suppress(OSError):
                os.close(src)
