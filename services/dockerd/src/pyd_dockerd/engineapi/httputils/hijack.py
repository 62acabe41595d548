"""Connection hijacking for attach and exec (moby's httputils hijack): the handler
answers `101 UPGRADED` (`Upgrade: tcp`; a plain `200 OK` raw stream when the client
asked for no upgrade) and the connection becomes a raw bidirectional byte stream.

aiohttp does the same for WebSocketResponse: the HTTP parser of the connection is
replaced by a payload parser that receives every later byte. Here that parser feeds
a queue the handler reads. A client's half-close (docker closes its write side when
its stdin ends) must not close the connection as asyncio would by default, so the
transport's protocol is wrapped for the life of the stream to keep it open.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class _RawPayload:
    """Stands where aiohttp puts a payload parser: every byte goes to `queue`."""

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue
        self.eof = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self.eof:
            self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        if not self.eof:
            self.eof = True
            self.queue.put_nowait(b"")


class _HalfCloseProtocol(asyncio.Protocol):
    """aiohttp's protocol for this connection, except that the client's EOF ends only
    the stream's input instead of closing the connection."""

    def __init__(self, inner: Any, payload: _RawPayload) -> None:
        self.inner = inner
        self.payload = payload

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool:
        self.payload.feed_eof()
        return True  # keep the transport open: output still flows

    def connection_lost(self, exc: Exception | None) -> None:
        self.payload.feed_eof()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class Hijacked:
    """The raw stream after the upgrade: `read()` the client's bytes (b"" at its EOF),
    `write()` ours; `release()` before the handler returns, and aiohttp then closes
    the connection (the stream's end, as in moby)."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self.request = request
        self.response = response
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._payload = _RawPayload(self._queue)
        self._transport = request.transport
        self._inner = request.protocol
        self._eof = False
        # Bytes that arrived right behind the request are fed by set_parser.
        request.protocol.set_parser(self._payload)  # type: ignore[arg-type]
        request.protocol.keep_alive(False)
        if self._transport is not None and not self._transport.is_closing():
            self._transport.set_protocol(_HalfCloseProtocol(self._inner, self._payload))

    async def read(self) -> bytes:
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> bool:
        """False once the client is gone."""
        if not data:
            return True
        try:
            await self.response.write(data)
            return True
        except (ConnectionError, RuntimeError):
            return False

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def release(self) -> None:
        """Give the connection back to aiohttp, which closes it."""
        t = self._transport
        if t is not None and not t.is_closing():
            t.set_protocol(self._inner)


async def hijack(request: web.Request, media_type: str) -> Hijacked:
    """Answer the upgrade and take the connection over (moby writes the same lines)."""
    upgrade = "upgrade" in request.headers.get("Connection", "").lower() and \
        request.headers.get("Upgrade", "").lower() == "tcp"
    if upgrade:
        resp = web.StreamResponse(status=101, reason="UPGRADED")
        resp.headers["Connection"] = "Upgrade"
        resp.headers["Upgrade"] = "tcp"
        resp.headers["Content-Type"] = media_type
    else:
        resp = web.StreamResponse(status=200, reason="OK")
        resp.headers["Content-Type"] = RAW_STREAM
        # The raw stream runs to the connection's end: no length, no chunking.
        resp._length_check = False
    # The stream ends with the connection: aiohttp closes it once the handler returns.
    resp.force_close()
    await resp.prepare(request)
    return Hijacked(request, resp)
