"""pyd.dockerd.v1.CheckpointTransfer, served on --checkpoint-listen (TCP)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from pyd_dockerd.daemon.checkpoint_server import CheckpointServer
from pyd_proto.errdefs import abort_on_error
from pyd_proto.pyd.dockerd.v1 import transfer_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import transfer_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["CheckpointTransfer"].full_name


class CheckpointTransferService(pb_grpc.CheckpointTransferServicer):
    def __init__(self, server: CheckpointServer) -> None:
        self.server = server

    @abort_on_error
    def Plan(self, request: pb.CheckpointPlanRequest,
             context: grpc.ServicerContext) -> pb.CheckpointPlan:
        cid, digest, plan, port = self.server.plan(request.container, request.checkpoint,
                                                   request.image_digest)
        out = pb.CheckpointPlan(container_id=cid, checkpoint=request.checkpoint,
                                image_digest=digest, page_server_port=port)
        for fp in plan:
            f = out.files.add(name=fp.name, size=fp.size,
                              whole=fp.ranges is None)
            for off, length in fp.ranges or ():
                f.ranges.add(offset=off, length=length)
            if fp.name.startswith("pages-"):
                out.memory_bytes += fp.size
        return out

    @abort_on_error
    def Read(self, request: pb.CheckpointReadRequest,
             context: grpc.ServicerContext) -> Iterator[pb.CheckpointChunk]:
        for data in self.server.read(request.container, request.checkpoint, request.name,
                                     request.offset, request.length):
            yield pb.CheckpointChunk(data=data)
