"""pyd.dockerd.v1.Checkpoints: thin over daemon/checkpoint.py."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_dockerd.daemon import checkpoint
from pyd_dockerd.daemon.daemon import Daemon
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, abort_on_error
from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2_grpc as pb_grpc
from pyd_proto.pyd.dockerd.v1 import types_pb2

SERVICE = pb.DESCRIPTOR.services_by_name["Checkpoints"].full_name


def _to_pb(d: Daemon, cp: checkpoint.Checkpoint) -> pb.Checkpoint:
    out = pb.Checkpoint(name=cp.name, container_id=cp.container_id, dir=cp.dir,
                        image_digest=cp.image_digest, size=cp.size,
                        leave_running=cp.leave_running, lazy=cp.lazy)
    out.created.FromDatetime(cp.created)
    if cp.container_id:
        try:
            out.container_name = d.containers.get(cp.container_id).name
        except Exception:
            pass
    return out


class CheckpointsService(pb_grpc.CheckpointsServicer):
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    @abort_on_error
    def Create(self, request: pb.CreateCheckpointRequest,
               context: grpc.ServicerContext) -> pb.CreateCheckpointResponse:
        if request.lazy:
            # Post-copy needs CRIU to serve the frozen process's memory, and CRIU's page
            # server fails on this kernel (services/runtime/docs/lazy-restore.md): a lazy
            # dump would wait for a client forever. Refused rather than faked.
            raise FailedPrecondition(
                "checkpoint create --lazy (post-copy from the frozen container) is not "
                "available on this host: CRIU's page server fails here; create the "
                "checkpoint without --lazy and restore it elsewhere with `pyd start "
                "--lazy-restore ADDRESS`, which serves its memory lazily from the image")
        if request.pre_dump:
            raise InvalidArgument("--pre-dump shrinks what a --lazy checkpoint leaves to "
                                  "transfer, and --lazy is not available on this host")
        cp = checkpoint.create(self.d, request.container, request.checkpoint_id,
                               checkpoint_dir=request.checkpoint_dir,
                               leave_running=request.leave_running, lazy=request.lazy)
        out = _to_pb(self.d, cp)
        out.address = self.d.checkpoint_address(out.container_name or cp.container_id,
                                                cp.name)
        return pb.CreateCheckpointResponse(checkpoint=out, address=out.address)

    @abort_on_error
    def List(self, request: pb.ListCheckpointsRequest,
             context: grpc.ServicerContext) -> pb.ListCheckpointsResponse:
        cps = checkpoint.list_checkpoints(self.d, request.container, request.checkpoint_dir)
        return pb.ListCheckpointsResponse(checkpoints=[_to_pb(self.d, c) for c in cps])

    @abort_on_error
    def Remove(self, request: pb.RemoveCheckpointRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        checkpoint.remove(self.d, request.container, request.checkpoint_id,
                          request.checkpoint_dir)
        return empty_pb2.Empty()

    @abort_on_error
    def Export(self, request: pb.ExportCheckpointRequest,
               context: grpc.ServicerContext) -> Iterator[types_pb2.TarChunk]:
        stream = checkpoint.export(self.d, request.container, request.checkpoint_id,
                                   request.checkpoint_dir)
        for data in stream:
            if not context.is_active():
                return
            yield types_pb2.TarChunk(data=data)

    @abort_on_error
    def Import(self, request_iterator: Iterator[pb.ImportCheckpointRequest],
               context: grpc.ServicerContext) -> pb.Checkpoint:
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("msg") != "header":
            raise InvalidArgument("the first message of an import must be its header")
        header = first.header

        def chunks() -> Iterator[bytes]:
            for req in request_iterator:
                if req.WhichOneof("msg") != "chunk":
                    raise InvalidArgument("only chunks may follow an import's header")
                yield req.chunk

        cp = checkpoint.import_(self.d, chunks(), container=header.container,
                                name=header.checkpoint_id,
                                checkpoint_dir=header.checkpoint_dir)
        return _to_pb(self.d, cp)
