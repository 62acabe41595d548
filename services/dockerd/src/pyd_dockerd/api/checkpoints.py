"""pyd.dockerd.v1.Checkpoints: thin over daemon/checkpoint.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import empty_pb2

from pyd_dockerd.daemon import checkpoint
from pyd_dockerd.daemon.daemon import Daemon
from pyd_proto.errdefs import InvalidArgument, Unimplemented, abort_on_error
from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import checkpoints_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["Checkpoints"].full_name


def _to_pb(d: Daemon, cp: checkpoint.Checkpoint) -> pb.Checkpoint:
    out = pb.Checkpoint(name=cp.name, container_id=cp.container_id, dir=cp.dir,
                        image_digest=cp.image_digest, size=cp.size,
                        leave_running=cp.leave_running, lazy=cp.lazy)
    out.created.FromDatetime(cp.created)
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
        if request.pre_dump:
            raise InvalidArgument("--pre-dump needs --lazy serving, not available yet")
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
    def Export(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        raise Unimplemented("checkpoint export is not implemented by this version of pyd")
        yield  # pragma: no cover

    @abort_on_error
    def Import(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        raise Unimplemented("checkpoint import is not implemented by this version of pyd")
