"""pyd.dockerd.v1.Volumes: parse, call the volume store, build the response (moby's
api/server/router/volume)."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2, json_format

from pyd_dockerd.volumes.local import Volume, VolumeStore
from pyd_proto.errdefs import abort_on_error
from pyd_proto.pyd.dockerd.v1 import volumes_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import volumes_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["Volumes"].full_name


def to_volume(v: Volume, size: int = -1) -> pb.Volume:
    return json_format.ParseDict(v.to_json(size), pb.Volume(), ignore_unknown_fields=True)


class VolumesService(pb_grpc.VolumesServicer):
    def __init__(self, volumes: VolumeStore) -> None:
        self.volumes = volumes

    @abort_on_error
    def Create(self, request: pb.CreateVolumeRequest,
               context: grpc.ServicerContext) -> pb.Volume:
        return to_volume(self.volumes.create(request.name, driver=request.driver,
                                             driver_opts=dict(request.driver_opts),
                                             labels=dict(request.labels)))

    @abort_on_error
    def List(self, request: pb.ListVolumesRequest,
             context: grpc.ServicerContext) -> pb.ListVolumesResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        return pb.ListVolumesResponse(volumes=[to_volume(v) for v in
                                               self.volumes.list_volumes(filters)])

    @abort_on_error
    def Inspect(self, request: pb.InspectVolumeRequest,
                context: grpc.ServicerContext) -> pb.Volume:
        return to_volume(self.volumes.get(request.name))

    @abort_on_error
    def Remove(self, request: pb.RemoveVolumeRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        self.volumes.remove(request.name, force=request.force)
        return empty_pb2.Empty()

    @abort_on_error
    def Prune(self, request: pb.PruneVolumesRequest,
              context: grpc.ServicerContext) -> pb.PruneVolumesResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        all_volumes = any(v.lower() in ("1", "true") for v in filters.get("all", []))
        removed, reclaimed = self.volumes.prune(all_volumes=all_volumes,
                                                labels=filters.get("label"))
        return pb.PruneVolumesResponse(volumes_deleted=removed, space_reclaimed=reclaimed)
