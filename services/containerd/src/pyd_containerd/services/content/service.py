"""containerd.services.content.v1.Content over the namespaced `ContentStore`."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.content.local import IngestStatus
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.leases.context import from_context as lease_from_context
from pyd_containerd.leases.store import CONTENT, LeaseStore, Resource
from pyd_containerd.metadata.content import ContentStore, Info, NamespacedWriter
from pyd_containerd.services.timestamps import to_pb
from pyd_proto.containerd.events import content_pb2 as events
from pyd_proto.containerd.services.content.v1 import content_pb2 as pb
from pyd_proto.containerd.services.content.v1 import content_pb2_grpc as pb_grpc
from pyd_proto.errdefs import InvalidArgument, PydError, abort, abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Content"].full_name
LIST_BATCH = 100


def _info_pb(i: Info) -> pb.Info:
    return pb.Info(digest=i.digest, size=i.size, labels=i.labels,
                   created_at=to_pb(i.created_at), updated_at=to_pb(i.updated_at))


def _status_pb(s: IngestStatus) -> pb.Status:
    return pb.Status(ref=s.ref, offset=s.offset, total=s.total, expected=s.expected,
                     started_at=to_pb(s.started_at), updated_at=to_pb(s.updated_at))


class ContentService(pb_grpc.ContentServicer):
    def __init__(self, store: ContentStore, exchange: Exchange | None = None,
                 leases: LeaseStore | None = None) -> None:
        self.store = store
        self.exchange = exchange
        self.leases = leases

    @abort_on_error
    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        ns = namespaces.from_context(context)
        return pb.InfoResponse(info=_info_pb(self.store.info(ns, request.digest)))

    @abort_on_error
    def Update(self, request: pb.UpdateRequest,
               context: grpc.ServicerContext) -> pb.UpdateResponse:
        ns = namespaces.from_context(context)
        info = self.store.update(ns, Info(request.info.digest, labels=dict(request.info.labels)),
                                 list(request.update_mask.paths))
        return pb.UpdateResponse(info=_info_pb(info))

    @abort_on_error
    def List(self, request: pb.ListContentRequest,
             context: grpc.ServicerContext) -> Iterator[pb.ListContentResponse]:
        ns = namespaces.from_context(context)
        infos = self.store.list(ns, list(request.filters))
        for i in range(0, len(infos), LIST_BATCH):
            yield pb.ListContentResponse(info=[_info_pb(x) for x in infos[i:i + LIST_BATCH]])

    @abort_on_error
    def Delete(self, request: pb.DeleteContentRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.delete(ns, request.digest)
        if self.exchange is not None:
            self.exchange.publish(ns, "/content/delete", events.ContentDelete(
                digest=request.digest))
        return empty_pb2.Empty()

    @abort_on_error
    def Read(self, request: pb.ReadContentRequest,
             context: grpc.ServicerContext) -> Iterator[pb.ReadContentResponse]:
        ns = namespaces.from_context(context)
        for offset, data in self.store.read(ns, request.digest, request.offset, request.size):
            yield pb.ReadContentResponse(offset=offset, data=data)

    @abort_on_error
    def Status(self, request: pb.StatusRequest,
               context: grpc.ServicerContext) -> pb.StatusResponse:
        ns = namespaces.from_context(context)
        return pb.StatusResponse(status=_status_pb(self.store.status(ns, request.ref)))

    @abort_on_error
    def ListStatuses(self, request: pb.ListStatusesRequest,
                     context: grpc.ServicerContext) -> pb.ListStatusesResponse:
        ns = namespaces.from_context(context)
        return pb.ListStatusesResponse(statuses=[
            _status_pb(s) for s in self.store.statuses(ns, list(request.filters))])

    @abort_on_error
    def Abort(self, request: pb.AbortRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        self.store.abort(ns, request.ref)
        return empty_pb2.Empty()

    def Write(self, request_iterator: Iterator[pb.WriteContentRequest],
              context: grpc.ServicerContext) -> Iterator[pb.WriteContentResponse]:
        """The bidirectional ingest stream, as upstream's service.Write runs it."""
        w: NamespacedWriter | None = None
        try:
            ns = namespaces.from_context(context)
            first = next(request_iterator, None)
            if first is None:
                return
            if not first.ref:
                raise InvalidArgument("first message must have a reference")
            ref = first.ref
            lease = lease_from_context(context)
            if lease and self.leases is not None and first.expected:
                self.leases.add_resource(ns, lease, Resource(first.expected, CONTENT))
            w = self.store.writer(ns, ref, first.total, first.expected)
            req: pb.WriteContentRequest | None = first
            while req is not None:
                msg = self._write_one(w, ref, req)
                if req.action == pb.COMMIT and lease and self.leases is not None:
                    self.leases.add_resource(ns, lease, Resource(msg.digest, CONTENT))
                yield msg
                req = next(request_iterator, None)
        except PydError as e:
            abort(context, e)
        finally:
            if w is not None:
                w.close()

    def _write_one(self, w: NamespacedWriter, ref: str,
                   req: pb.WriteContentRequest) -> pb.WriteContentResponse:
        if req.ref and req.ref != ref:
            raise InvalidArgument(f"requested ref {req.ref!r} must match the original {ref!r}")
        st = w.status()
        if req.expected:
            w.expected = req.expected
        if req.total > 0:
            w.total = req.total
        msg = pb.WriteContentResponse(action=req.action, started_at=to_pb(st.started_at),
                                      updated_at=to_pb(st.updated_at))
        if req.action in (pb.WRITE, pb.COMMIT):
            if req.offset > 0 and req.offset != w.offset:
                raise InvalidArgument(f"write @{req.offset} must occur at current offset "
                                      f"{w.offset}")
            if req.offset == 0 and w.offset > 0 and (req.data or req.action == pb.WRITE):
                w.truncate(0)
            if req.data:
                w.write(req.data)
            msg.offset, msg.total, msg.digest = w.offset, w.total, w.digest()
            if req.action == pb.COMMIT:
                w.commit(w.total, w.expected, dict(req.labels) or None)
        elif req.action == pb.STAT:
            msg.offset, msg.total, msg.digest = w.offset, w.total, w.digest()
        else:
            raise InvalidArgument(f"unknown write action {req.action}")
        return msg
