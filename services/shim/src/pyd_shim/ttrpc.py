"""ttrpc: containerd's light RPC for shims (github.com/containerd/ttrpc), without grpcio.

grpcio costs a shim ~20 MiB of memory; ttrpc needs only a socket and the
protobuf runtime. A frame is a 10-byte header (u32 length, u32 stream id,
u8 type, u8 flags; big endian) and a payload. A request frame carries a
`ttrpc.Request` (service=1, method=2, payload=3, timeout_nano=4,
metadata=5 {key=1, value=2}); the answer carries a `ttrpc.Response`
(status=1 google.rpc.Status {code=1, message=2}, payload=2). Those two
envelopes are encoded by hand here, so no extra .proto is needed.
Clients use odd stream ids. Status codes are gRPC's.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pyd_proto import errdefs
from pyd_shim.log import get_logger

log = get_logger("pyd.ttrpc")

HEADER = struct.Struct(">IIBB")
MAX_MESSAGE = 4 << 20
TYPE_REQUEST = 1
TYPE_RESPONSE = 2
NAMESPACE_KEY = "containerd-namespace-ttrpc"

# gRPC status codes by name (google.rpc.Code).
CODES = {"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3,
         "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5, "ALREADY_EXISTS": 6,
         "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
         "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13,
         "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16}
NAMES = {v: k for k, v in CODES.items()}
_ERRORS: dict[str, type[errdefs.PydError]] = {
    cls.code: cls for cls in (errdefs.NotFound, errdefs.AlreadyExists, errdefs.InvalidArgument,
                              errdefs.FailedPrecondition, errdefs.Unavailable,
                              errdefs.Unimplemented, errdefs.Internal)}


class Message(Protocol):
    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...
    def ParseFromString(self, serialized: bytes, /) -> int: ...


M = TypeVar("M", bound=Message)


# --- protobuf wire helpers for the two envelopes ---------------------------------

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def field_varint(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a message: ints for varints, bytes for the rest."""
    out: list[tuple[int, int | bytes]] = []
    i, n = 0, len(data)

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            if i >= n:
                raise ValueError("truncated varint")
            b = data[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.append((num, varint()))
        elif wire == 2:
            size = varint()
            out.append((num, data[i:i + size]))
            i += size
        elif wire == 1:
            out.append((num, data[i:i + 8]))
            i += 8
        elif wire == 5:
            out.append((num, data[i:i + 4]))
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


class Request:
    __slots__ = ("metadata", "method", "payload", "service", "timeout_nano")

    def __init__(self, service: str, method: str, payload: bytes = b"", timeout_nano: int = 0,
                 metadata: dict[str, str] | None = None) -> None:
        self.service = service
        self.method = method
        self.payload = payload
        self.timeout_nano = timeout_nano
        self.metadata = dict(metadata or {})

    def encode(self) -> bytes:
        out = field_bytes(1, self.service.encode()) + field_bytes(2, self.method.encode())
        out += field_bytes(3, self.payload)
        if self.timeout_nano:
            out += field_varint(4, self.timeout_nano)
        for k, v in self.metadata.items():
            out += field_bytes(5, field_bytes(1, k.encode()) + field_bytes(2, v.encode()))
        return out

    @classmethod
    def decode(cls, data: bytes) -> Request:
        req = cls("", "")
        for num, value in fields(data):
            if num == 1 and isinstance(value, bytes):
                req.service = value.decode()
            elif num == 2 and isinstance(value, bytes):
                req.method = value.decode()
            elif num == 3 and isinstance(value, bytes):
                req.payload = value
            elif num == 4 and isinstance(value, int):
                req.timeout_nano = value
            elif num == 5 and isinstance(value, bytes):
                kv = {k: v for k, v in fields(value) if isinstance(v, bytes)}
                req.metadata[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
        return req


class Response:
    __slots__ = ("code", "message", "payload")

    def __init__(self, code: int = 0, message: str = "", payload: bytes = b"") -> None:
        self.code = code
        self.message = message
        self.payload = payload

    def encode(self) -> bytes:
        status = b""
        if self.code:
            status += field_varint(1, self.code)
        if self.message:
            status += field_bytes(2, self.message.encode())
        out = field_bytes(1, status) if status else b""
        return out + (field_bytes(2, self.payload) if self.payload else b"")

    @classmethod
    def decode(cls, data: bytes) -> Response:
        resp = cls()
        for num, value in fields(data):
            if num == 1 and isinstance(value, bytes):
                for snum, svalue in fields(value):
                    if snum == 1 and isinstance(svalue, int):
                        resp.code = svalue
                    elif snum == 2 and isinstance(svalue, bytes):
                        resp.message = svalue.decode(errors="replace")
            elif num == 2 and isinstance(value, bytes):
                resp.payload = value
        return resp


def error_for(code: int, message: str) -> errdefs.PydError:
    """The typed error a non-zero status stands for."""
    cls = _ERRORS.get(NAMES.get(code, "UNKNOWN"), errdefs.PydError)
    return cls(message or NAMES.get(code, "unknown").lower())


# --- framing ---------------------------------------------------------------------

def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(sock: socket.socket) -> tuple[int, int, bytes] | None:
    """(stream id, type, payload), or None at end of stream."""
    head = _recv_exact(sock, HEADER.size)
    if head is None:
        return None
    length, sid, mtype, _flags = HEADER.unpack(head)
    if length > MAX_MESSAGE:
        raise ValueError(f"ttrpc message of {length} bytes exceeds {MAX_MESSAGE}")
    data = _recv_exact(sock, length) if length else b""
    if data is None:
        return None
    return sid, mtype, data


def write_frame(sock: socket.socket, sid: int, mtype: int, data: bytes) -> None:
    if len(data) > MAX_MESSAGE:
        raise errdefs.InvalidArgument(f"ttrpc message of {len(data)} bytes exceeds limit")
    sock.sendall(HEADER.pack(len(data), sid, mtype, 0) + data)


# --- server ----------------------------------------------------------------------

class Call:
    """What a handler knows about its call besides the request message."""

    __slots__ = ("metadata", "method", "service")

    def __init__(self, service: str, method: str, metadata: dict[str, str]) -> None:
        self.service = service
        self.method = method
        self.metadata = metadata

    @property
    def namespace(self) -> str:
        return self.metadata.get(NAMESPACE_KEY, "")


Handler = Callable[[Any, Call], Message]


class Server:
    """A ttrpc server: one thread per connection, one per in-flight request."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str], tuple[type[Any], Handler]] = {}
        self._listener: socket.socket | None = None
        self._closed = threading.Event()

    def register(self, service: str, method: str, request_type: type[Any],
                 handler: Handler) -> None:
        self._methods[(service, method)] = (request_type, handler)

    def methods(self) -> list[str]:
        return sorted(f"{s}/{m}" for s, m in self._methods)

    def serve(self, listener: socket.socket) -> None:
        """Accept connections until `close()`; returns then."""
        self._listener = listener
        while not self._closed.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                raise
            threading.Thread(target=self._connection, args=(conn,), daemon=True,
                             name="ttrpc-conn").start()

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()

    def _connection(self, conn: socket.socket) -> None:
        lock = threading.Lock()
        try:
            while True:
                frame = read_frame(conn)
                if frame is None:
                    return
                sid, mtype, data = frame
                if mtype != TYPE_REQUEST:
                    continue
                threading.Thread(target=self._handle, args=(conn, lock, sid, data),
                                 daemon=True, name="ttrpc-call").start()
        except (OSError, ValueError) as e:
            log.debug("ttrpc connection ended", extra={"error": str(e)})
        finally:
            conn.close()

    def _handle(self, conn: socket.socket, lock: threading.Lock, sid: int, data: bytes) -> None:
        resp = self.dispatch(data)
        with lock, contextlib.suppress(OSError):
            write_frame(conn, sid, TYPE_RESPONSE, resp.encode())

    def dispatch(self, data: bytes) -> Response:
        """Decode a request, run its handler, encode the answer (errors as statuses)."""
        try:
            req = Request.decode(data)
        except ValueError as e:
            return Response(CODES["INVALID_ARGUMENT"], f"bad ttrpc request: {e}")
        entry = self._methods.get((req.service, req.method))
        if entry is None:
            return Response(CODES["UNIMPLEMENTED"],
                            f"{req.service}/{req.method}: method not implemented")
        request_type, handler = entry
        try:
            msg = request_type()
            msg.ParseFromString(req.payload)
            out = handler(msg, Call(req.service, req.method, req.metadata))
            return Response(payload=out.SerializeToString())
        except errdefs.PydError as e:
            return Response(CODES.get(e.code, CODES["UNKNOWN"]), str(e))
        except Exception as e:
            log.exception("ttrpc handler failed", extra={"method": req.method})
            return Response(CODES["UNKNOWN"], f"{type(e).__name__}: {e}")


# --- client ----------------------------------------------------------------------

class _Pending:
    __slots__ = ("done", "response")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: Response | None = None


class Client:
    """A ttrpc connection; calls may run from many threads at once.

    `on_close` runs (once, in the reader thread) when the peer goes away, which
    is how containerd learns that a shim died.
    """

    def __init__(self, address: str, *, timeout: float = 5.0,
                 metadata: dict[str, str] | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.address = address
        self.metadata = dict(metadata or {})
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(socket_path(address))
        except OSError as e:
            self._sock.close()
            raise errdefs.Unavailable(f"ttrpc dial {address}: {e}") from e
        self._sock.settimeout(None)
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._next = 1
        self._closed = False
        self._on_close = on_close
        self._reader = threading.Thread(target=self._read, daemon=True, name="ttrpc-client")
        self._reader.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def call(self, service: str, method: str, request: Message, response: M,
             *, timeout: float | None = None, metadata: dict[str, str] | None = None) -> M:
        """Send `request`, fill and return `response`; a failure raises a PydError."""
        meta = {**self.metadata, **(metadata or {})}
        pending = _Pending()
        with self._lock:
            if self._closed:
                raise errdefs.Unavailable(f"ttrpc: connection to {self.address} closed")
            sid = self._next
            self._next += 2
            self._pending[sid] = pending
            req = Request(service, method, request.SerializeToString(),
                          int(timeout * 1e9) if timeout else 0, meta)
            try:
                write_frame(self._sock, sid, TYPE_REQUEST, req.encode())
            except OSError as e:
                self._pending.pop(sid, None)
                raise errdefs.Unavailable(f"ttrpc: send to {self.address}: {e}") from e
        if not pending.done.wait(timeout):
            with self._lock:
                self._pending.pop(sid, None)
            raise errdefs.Unavailable(f"ttrpc: {method} timed out after {timeout}s")
        resp = pending.response
        if resp is None:
            raise errdefs.Unavailable(f"ttrpc: connection to {self.address} closed")
        if resp.code:
            raise error_for(resp.code, resp.message)
        response.ParseFromString(resp.payload)
        return response

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def _read(self) -> None:
        try:
            while True:
                frame = read_frame(self._sock)
                if frame is None:
                    break
                sid, mtype, data = frame
                if mtype != TYPE_RESPONSE:
                    continue
                with self._lock:
                    pending = self._pending.pop(sid, None)
                if pending is not None:
                    pending.response = Response.decode(data)
                    pending.done.set()
        except (OSError, ValueError):
            pass
        finally:
            with self._lock:
                was_closed = self._closed
                self._closed = True
                waiting = list(self._pending.values())
                self._pending.clear()
            for p in waiting:
                p.done.set()
            self._sock.close()
            if self._on_close is not None and not was_closed:
                try:
                    self._on_close()
                except Exception:
                    log.exception("ttrpc on_close failed")


def socket_path(address: str) -> str:
    """`unix:///x`, `unix:/x`, `ttrpc+unix:///x` or a bare path → the path."""
    for prefix in ("ttrpc+unix://", "unix://", "unix:"):
        if address.startswith(prefix):
            return address[len(prefix):]
    return address


def listen(path: str) -> socket.socket:
    """A listening unix socket at `path` (0600 in a 0711 directory; a stale file replaced)."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o711, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(64)
    return sock
