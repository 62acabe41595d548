"""containerd.services.version.v1.Version."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import __version__
from pyd_proto.containerd.services.version.v1 import version_pb2 as pb
from pyd_proto.containerd.services.version.v1 import version_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["Version"].full_name
REVISION = "pyd"


class VersionService(pb_grpc.VersionServicer):
    def Version(self, request: empty_pb2.Empty,
                context: grpc.ServicerContext) -> pb.VersionResponse:
        return pb.VersionResponse(version=__version__, revision=REVISION)
