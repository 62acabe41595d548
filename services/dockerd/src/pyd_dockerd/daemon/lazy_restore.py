"""The destination side of `pyd start --lazy-restore pyd://HOST:PORT/CONTAINER/CP`:
fetch the checkpoint's non-memory files and its non-lazy page ranges into a local
image, check it was made from this container's image, and name the source's page
server for the runtime (`restore --lazy-pages --page-server HOST:PORT`)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from pyd_dockerd.daemon.checkpoint import ROOTFS_DIFF, apply_rootfs_diff
from pyd_dockerd.daemon.checkpoint_server import parse_address
from pyd_proto.errdefs import FailedPrecondition, from_rpc_error
from pyd_proto.pyd.dockerd.v1 import transfer_pb2, transfer_pb2_grpc

if TYPE_CHECKING:
    from pyd_dockerd.container.container import Container
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.lazy_restore")


@dataclass
class Fetched:
    image_dir: str       # the local (sparse) CRIU image
    page_server: str     # HOST:PORT the runtime's lazy-pages daemon fetches from
    bytes_received: int
    memory_bytes: int
    seconds: float
    # (CA, certificate, key) when the page server speaks TLS: when this host's transfer
    # does (a source with --tlscacert/--tlscert/--tlskey serves both over TLS)
    tls: tuple[str, str, str] | None = None


def fetch(d: Daemon, c: Container, address: str) -> Fetched:
    addr = parse_address(address)
    t0 = time.monotonic()
    channel = d.transfer_channel(addr.endpoint)
    stub = transfer_pb2_grpc.CheckpointTransferStub(channel)
    local = os.path.join(c.root, "checkpoints", f".lazy-{addr.checkpoint}-{uuid.uuid4().hex[:8]}")
    try:
        try:
            plan = stub.Plan(transfer_pb2.CheckpointPlanRequest(
                container=addr.container, checkpoint=addr.checkpoint, image_digest=c.image),
                timeout=30)
        except grpc.RpcError as e:
            err = from_rpc_error(e)
            if err.code == "UNAVAILABLE":
                # Not this daemon being away: the source refused or could not be reached
                # (a TLS handshake without a certificate of its CA ends here too).
                raise FailedPrecondition(
                    f"cannot fetch checkpoint {addr.checkpoint} from {addr.endpoint}: "
                    f"{e.details() if hasattr(e, 'details') else e}") from None
            raise err from None
        if plan.image_digest != c.image:
            raise FailedPrecondition(
                f"checkpoint {addr.checkpoint} was made from image {plan.image_digest}, but "
                f"container {c.name} uses image {c.image}: restoring onto a different image "
                "is refused")
        os.makedirs(local, mode=0o700)
        received = 0
        for f in plan.files:
            path = os.path.join(local, f.name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, f.size)
                ranges = [(0, f.size)] if f.whole else [(r.offset, r.length) for r in f.ranges]
                for offset, length in ranges:
                    if length <= 0:
                        continue
                    pos = offset
                    for chunk in stub.Read(transfer_pb2.CheckpointReadRequest(
                            container=addr.container, checkpoint=addr.checkpoint,
                            name=f.name, offset=offset, length=length), timeout=300):
                        os.pwrite(fd, chunk.data, pos)
                        pos += len(chunk.data)
                        received += len(chunk.data)
            finally:
                os.close(fd)
    except grpc.RpcError as e:
        shutil.rmtree(local, ignore_errors=True)
        raise from_rpc_error(e) from None
    except BaseException:
        shutil.rmtree(local, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(Exception):
            channel.close()
    diff = os.path.join(local, ROOTFS_DIFF)
    if os.path.exists(diff):
        apply_rootfs_diff(diff, d.upper_dir(c))
    page_server = f"{addr.host}:{plan.page_server_port}"
    tls = None
    if d.config.tls:
        # A source serving checkpoints over TLS serves pages over TLS too, with the same
        # certificates: this host presents its own, checked against the shared CA.
        tls = (os.path.abspath(d.config.tlscacert), os.path.abspath(d.config.tlscert),
               os.path.abspath(d.config.tlskey))
    log.info("lazy image fetched", extra={"id": c.id, "lazy_restore": address,
                                          "page_server": page_server, "bytes": received,
                                          "tls": tls is not None})
    return Fetched(local, page_server, received, plan.memory_bytes, time.monotonic() - t0,
                   tls)


# The runtime's guardian writes this into the container's state directory before it
# kills a container whose page source went away (pyd_runtime.criu.container).
LAZY_PAGES_FAILED = "lazy-pages.failed"


def failure_reason(d: Daemon, c: Container) -> str:
    """Why a lazily restored container was killed mid-transfer ("" when it was not).
    Read when its exit is handled, before the task (and the runtime's state directory)
    is deleted."""
    from pyd_dockerd.libcontainerd.client import NAMESPACE

    path = os.path.join(d.config.runtime_root, NAMESPACE, c.id, LAZY_PAGES_FAILED)
    try:
        with open(path, errors="replace") as f:
            lines = [x.strip() for x in f.read().splitlines() if x.strip()]
    except OSError:
        return ""
    source = c.state.lazy_restore.get("Address", "")
    return (f"lazy restore from {source} failed: " + "; ".join(lines[:3]))[:1000]


def finished(d: Daemon, c: Container, reason: str) -> None:
    """The lazily restored run ended: record why in State.LazyRestore and drop the local
    image (the lazy-pages daemon that read it is gone)."""
    if reason:
        c.state.lazy_restore = {**c.state.lazy_restore, "Status": "failed", "Error": reason}
    for entry in os.listdir(c.checkpoint_dir) if os.path.isdir(c.checkpoint_dir) else ():
        if entry.startswith(".lazy-"):
            shutil.rmtree(os.path.join(c.checkpoint_dir, entry), ignore_errors=True)
