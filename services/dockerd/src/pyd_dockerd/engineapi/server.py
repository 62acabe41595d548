"""The Engine API server (moby's api/server/server.go): an aiohttp application on a
unix socket of its own, run by an event loop in a thread inside pyd-dockerd.

The socket is bound synchronously by `start()` (0660, group `pyd`, a stale one
replaced, a live one refused, as for the gRPC socket). aiohttp and the routers are
imported only when the first client connects (it waits in the backlog meanwhile):
an engine nobody talks Docker's API to starts as fast, and stays as small, as one
without it (measured: the import costs ~0.5 s of a 2-core machine's start and 16 MiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import threading
from typing import TYPE_CHECKING, Any

from pyd_proto.server import prepare_socket_path, secure_socket

if TYPE_CHECKING:

    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.engineapi")


class EngineAPI:
    """Serves the Docker Engine API for `core` on the unix socket `path`."""

    def __init__(self, core: Daemon, path: str) -> None:
        self.core = core
        self.path = path
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Any = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)

    def start(self) -> None:
        """Bind the socket now; serve it from a thread of its own."""
        prepare_socket_path(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o117)  # created 0660 at once, as the gRPC socket
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(128)
        secure_socket(self.path)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="engine-api", daemon=True)
        self._thread.start()
        log.info("serving the Docker Engine API", extra={"address": f"unix://{self.path}"})

    def _serve(self) -> None:
        assert self._sock is not None
        # Until a client connects (or dockerd stops), nothing is imported.
        select.select([self._sock.fileno(), self._wake_r], [], [])
        if self._stopping.is_set():
            self._ready.set()
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._setup())
        except BaseException:  # say why, once; the gRPC API goes on serving
            log.exception("the Docker Engine API could not start")
            # Waiting clients are refused rather than left in the backlog.
            with contextlib.suppress(OSError):
                self._sock.close()
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _setup(self) -> None:
        from aiohttp import web

        assert self._sock is not None
        from pyd_dockerd.engineapi.app import make_app

        app = make_app(self.core)
        # handler_cancellation: a client that goes away ends its handler (a follow, a
        # wait), so no stream outlives its reader.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, self._sock).start()
        self._runner = runner

    def stop(self) -> None:
        """Stop accepting, end in-flight requests, remove the socket."""
        self._stopping.set()
        os.write(self._wake_w, b"x")
        thread = self._thread
        if thread is not None:
            self._ready.wait(10)
        loop = self._loop
        if thread is not None and loop is not None:
            if self._runner is not None and loop.is_running():
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(self._runner.cleanup(),
                                                     loop).result(10)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
