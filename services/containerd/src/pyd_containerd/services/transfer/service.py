"""pyd.containerd.v1.Transfer: image import (streamed or from a path) and registry pull."""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterator

import grpc

from pyd_containerd import namespaces
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.images.exporter import Exporter
from pyd_containerd.images.importer import Importer, ImportOptions
from pyd_containerd.images.pull import Progress, Puller, PullOptions
from pyd_containerd.images.store import Image
from pyd_containerd.services.images.service import to_pb_image
from pyd_proto.containerd.events import image_pb2 as events
from pyd_proto.errdefs import InvalidArgument, PydError, Unimplemented, abort, abort_on_error
from pyd_proto.pyd.containerd.v1 import transfer_pb2 as pb
from pyd_proto.pyd.containerd.v1 import transfer_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["Transfer"].full_name
EXPORT_CHUNK = 1 << 20


def import_options(o: pb.ImportOptions) -> ImportOptions:
    config: dict[str, object] = {}
    if o.config_json:
        try:
            config = json.loads(o.config_json)
        except ValueError as e:
            raise InvalidArgument(f"config_json: {e}") from e
        if not isinstance(config, dict):
            raise InvalidArgument("config_json must be a JSON object")
    return ImportOptions(kind=o.kind or "archive", name=o.name, unpack=not o.no_unpack,
                         snapshotter=o.snapshotter or "overlayfs",
                         platform=o.platform or "linux/amd64", labels=dict(o.labels),
                         config=config, normalize=not o.no_normalize)


class TransferService(pb_grpc.TransferServicer):
    def __init__(self, importer: Importer, spool_dir: str,
                 exchange: Exchange | None = None, puller: Puller | None = None,
                 exporter: Exporter | None = None) -> None:
        self.importer = importer
        self.spool_dir = spool_dir
        self.exchange = exchange
        self.puller = puller
        self.exporter = exporter

    @abort_on_error
    def Unpack(self, request: pb.UnpackRequest,
               context: grpc.ServicerContext) -> pb.UnpackResponse:
        ns = namespaces.from_context(context)
        chain = self.importer.unpack(ns, request.name, request.snapshotter or "overlayfs",
                                     request.platform or "linux/amd64")
        return pb.UnpackResponse(chain_id=chain)

    def Export(self, request: pb.ExportRequest,
               context: grpc.ServicerContext) -> Iterator[pb.ExportChunk]:
        """Build the tar in a spool file (errors surface before any byte is sent), then
        stream it."""
        try:
            ns = namespaces.from_context(context)
            if self.exporter is None:
                raise Unimplemented("export is not configured")
            os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
            spool = tempfile.TemporaryFile(dir=self.spool_dir)
            try:
                self.exporter.export(ns, list(request.names), spool,
                                     request.platform or "linux/amd64")
            except BaseException:
                spool.close()
                raise
        except PydError as e:
            abort(context, e)
            return
        with spool:
            spool.seek(0)
            while chunk := spool.read(EXPORT_CHUNK):
                yield pb.ExportChunk(data=chunk)

    def Import(self, request_iterator: Iterator[pb.ImportRequest],
               context: grpc.ServicerContext) -> pb.ImportResponse:
        try:
            ns = namespaces.from_context(context)
            first = next(request_iterator, None)
            if first is None or not first.HasField("options"):
                raise InvalidArgument("the first message must carry options")
            opts = import_options(first.options)
            if first.options.path:
                for _ in request_iterator:
                    raise InvalidArgument("options.path given: send no data")
                images = self.importer.import_file(ns, first.options.path, opts)
            else:
                os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
                # the archive is spooled to disk: tar needs to seek, and it may be large
                with tempfile.TemporaryFile(dir=self.spool_dir) as spool:
                    spool.write(first.data)
                    for req in request_iterator:
                        spool.write(req.data)
                    spool.seek(0)
                    images = self.importer.import_stream(ns, spool, opts)
        except PydError as e:
            abort(context, e)
            raise  # not reached: abort raises
        except OSError as e:
            abort(context, InvalidArgument(f"cannot read the archive: {e}"))
            raise
        if self.exchange is not None:
            for img in images:
                self.exchange.publish(ns, "/images/create",
                                      events.ImageCreate(name=img.name, labels=img.labels))
        return pb.ImportResponse(images=[to_pb_image(i) for i in images])

    def Pull(self, request: pb.PullRequest,
             context: grpc.ServicerContext) -> Iterator[pb.PullProgress]:
        """Run the pull in a thread and stream its progress; the last message has the image."""
        try:
            ns = namespaces.from_context(context)
            if self.puller is None:
                raise Unimplemented("pull is not configured")
            if not request.ref:
                raise InvalidArgument("ref must not be empty")
            opts = PullOptions(username=request.username, password=request.password,
                               plain_http=request.plain_http, unpack=not request.no_unpack,
                               snapshotter=request.snapshotter or "overlayfs",
                               platform=request.platform or "linux/amd64",
                               labels=dict(request.labels),
                               insecure_skip_verify=request.insecure_skip_verify)
        except PydError as e:
            abort(context, e)
            return
        updates: queue.Queue[Progress | Image | BaseException] = queue.Queue()
        puller = self.puller

        def run(report: Callable[[Progress], None] = updates.put) -> None:
            try:
                updates.put(puller.pull(ns, request.ref, opts, report))
            except BaseException as e:
                updates.put(e)

        threading.Thread(target=run, name="pull", daemon=True).start()
        while True:
            item = updates.get()
            if isinstance(item, Progress):
                yield pb.PullProgress(status=item.status, id=item.id, current=item.current,
                                      total=item.total)
            elif isinstance(item, Image):
                if self.exchange is not None:
                    self.exchange.publish(ns, "/images/create",
                                          events.ImageCreate(name=item.name, labels=item.labels))
                yield pb.PullProgress(status="complete", id=item.target.digest,
                                      image=to_pb_image(item))
                return
            else:
                if isinstance(item, PydError):
                    abort(context, item)
                raise item
