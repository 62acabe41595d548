"""Serving this host's checkpoints to other hosts (`--checkpoint-listen HOST:PORT`):
the plan of what a destination must copy, the file bytes, and one CRIU page server
per checkpoint being restored, kept until the destination has every page.

Checkpoint addresses: `pyd://HOST:PORT/CONTAINER/CHECKPOINT` (CONTAINER by name or id)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_runtime.criu.lazyimage import FilePlan

log = logging.getLogger("pyd.dockerd.checkpoint_server")

SCHEME = "pyd://"
CHUNK = 1 << 20
PAGE_SERVER_IDLE = 600.0  # a page server nobody finishes with is stopped after this


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    container: str
    checkpoint: str

    def __str__(self) -> str:
        return f"{SCHEME}{self.host}:{self.port}/{self.container}/{self.checkpoint}"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """`pyd://HOST:PORT/CONTAINER/CHECKPOINT` (the scheme may be left out)."""
    rest = text.removeprefix(SCHEME)
    hostport, _, path = rest.partition("/")
    container, _, checkpoint = path.partition("/")
    host, _, port = hostport.rpartition(":")
    if not (host and port.isdigit() and container and checkpoint and "/" not in checkpoint):
        raise InvalidArgument(f"invalid checkpoint address {text!r}: want "
                              f"{SCHEME}HOST:PORT/CONTAINER/CHECKPOINT")
    return Address(host.strip("[]"), int(port), container, checkpoint)


class CheckpointServer:
    """The source side; the gRPC servicer (api/transfer.py) is thin over it."""

    def __init__(self, d: Daemon, host: str) -> None:
        self.d = d
        self.host = host
        self._servers: dict[str, object] = {}
        self._lock = threading.Lock()

    def _path(self, container: str, checkpoint: str) -> tuple[str, str, str]:
        from pyd_dockerd.daemon import checkpoint as checkpoints

        c = self.d.containers.get(container)
        cp = checkpoints.get(self.d, c, checkpoint)
        return c.id, cp.image_digest, cp.path

    def plan(self, container: str, checkpoint: str,
             want_image: str = "") -> tuple[str, str, list[FilePlan], int]:
        """(container id, image digest, file plans, page server port). With `want_image`
        (the destination's image), a checkpoint of another image is refused here."""
        from pyd_runtime.criu.lazyimage import lazy_image_plan

        cid, digest, path = self._path(container, checkpoint)
        if want_image and want_image != digest:
            raise FailedPrecondition(
                f"checkpoint {checkpoint} was made from image {digest}, but the destination "
                f"container uses image {want_image}: restoring onto a different image is "
                "refused")
        plan = lazy_image_plan(path)
        port = self._page_server(path)
        log.info("serving checkpoint", extra={"id": cid, "checkpoint": checkpoint,
                                              "page_server_port": port})
        return cid, digest, list(plan), port

    def _page_server(self, path: str) -> int:
        from pyd_runtime.criu.pageserver import PageServer

        ssl_context = None
        cfg = self.d.config
        if cfg.tls:
            from pyd_runtime.criu.pageserver import tls_server_context

            # As the transfer service: our certificate, and the destination's `criu
            # lazy-pages --tls` must present one signed by our CA.
            ssl_context = tls_server_context(cfg.tlscert, cfg.tlskey, cfg.tlscacert)
        with self._lock:
            # The port is ephemeral and lives only until the pages are sent.
            ps = PageServer(path, host=self.host, port=0, ssl_context=ssl_context).start()
            self._servers[f"{path}:{ps.address[1]}"] = ps
        threading.Thread(target=self._retire, args=(ps, path), daemon=True,
                         name="page-server-retire").start()
        return ps.address[1]

    def _retire(self, ps: object, path: str) -> None:
        """Let go once the destination said it has every page (or after a long idle)."""
        from pyd_runtime.criu.pageserver import PageServer

        assert isinstance(ps, PageServer)
        ps.wait_closed(PAGE_SERVER_IDLE)
        log.info("page server done", extra={"path": path, "bytes_sent": ps.stats.bytes_sent})
        ps.stop()
        with self._lock:
            self._servers.pop(f"{path}:{ps.address[1]}", None)

    def read(self, container: str, checkpoint: str, name: str, offset: int,
             length: int) -> Iterator[bytes]:
        _cid, _digest, path = self._path(container, checkpoint)
        if "/" in name or name in ("", ".", ".."):
            raise InvalidArgument(f"invalid image file name {name!r}")
        full = os.path.join(path, name)
        try:
            f = open(full, "rb")
        except FileNotFoundError:
            raise NotFound(f"checkpoint {checkpoint} has no file {name}") from None
        with f:
            f.seek(offset)
            left = length if length > 0 else os.fstat(f.fileno()).st_size - offset
            while left > 0:
                data = f.read(min(CHUNK, left))
                if not data:
                    return
                left -= len(data)
                yield data

    def stop(self) -> None:
        from pyd_runtime.criu.pageserver import PageServer

        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for ps in servers:
            assert isinstance(ps, PageServer)
            ps.stop()
