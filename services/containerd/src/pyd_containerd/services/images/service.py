"""containerd.services.images.v1.Images over `ImageStore`."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2

from pyd_containerd import namespaces
from pyd_containerd.events.exchange import Exchange
from pyd_containerd.gc import GarbageCollector
from pyd_containerd.images import Descriptor
from pyd_containerd.images.store import Image, ImageStore
from pyd_containerd.services.timestamps import to_pb
from pyd_proto.containerd.events import image_pb2 as events
from pyd_proto.containerd.services.images.v1 import images_pb2 as pb
from pyd_proto.containerd.services.images.v1 import images_pb2_grpc as pb_grpc
from pyd_proto.containerd.types import descriptor_pb2
from pyd_proto.errdefs import abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Images"].full_name


def to_pb_image(img: Image) -> pb.Image:
    t = img.target
    return pb.Image(name=img.name, labels=img.labels,
                    target=descriptor_pb2.Descriptor(media_type=t.media_type, digest=t.digest,
                                                     size=t.size, annotations=t.annotations),
                    created_at=to_pb(img.created_at), updated_at=to_pb(img.updated_at))


def from_pb_image(m: pb.Image) -> Image:
    t = m.target
    return Image(name=m.name, labels=dict(m.labels),
                 target=Descriptor(t.media_type, t.digest, t.size, dict(t.annotations)))


class ImagesService(pb_grpc.ImagesServicer):
    def __init__(self, store: ImageStore, exchange: Exchange | None = None,
                 gc: GarbageCollector | None = None) -> None:
        self.store = store
        self.exchange = exchange
        self.gc = gc

    def _publish(self, ns: str, topic: str,
                 event: events.ImageCreate | events.ImageUpdate | events.ImageDelete) -> None:
        if self.exchange is not None:
            self.exchange.publish(ns, topic, event)

    @abort_on_error
    def Get(self, request: pb.GetImageRequest,
            context: grpc.ServicerContext) -> pb.GetImageResponse:
        ns = namespaces.from_context(context)
        return pb.GetImageResponse(image=to_pb_image(self.store.get(ns, request.name)))

    @abort_on_error
    def List(self, request: pb.ListImagesRequest,
             context: grpc.ServicerContext) -> pb.ListImagesResponse:
        ns = namespaces.from_context(context)
        return pb.ListImagesResponse(images=[
            to_pb_image(i) for i in self.store.list(ns, list(request.filters))])

    @abort_on_error
    def Create(self, request: pb.CreateImageRequest,
               context: grpc.ServicerContext) -> pb.CreateImageResponse:
        ns = namespaces.from_context(context)
        img = self.store.create(ns, from_pb_image(request.image))
        self._publish(ns, "/images/create", events.ImageCreate(name=img.name, labels=img.labels))
        return pb.CreateImageResponse(image=to_pb_image(img))

    @abort_on_error
    def Update(self, request: pb.UpdateImageRequest,
               context: grpc.ServicerContext) -> pb.UpdateImageResponse:
        ns = namespaces.from_context(context)
        img = self.store.update(ns, from_pb_image(request.image), list(request.update_mask.paths))
        self._publish(ns, "/images/update", events.ImageUpdate(name=img.name, labels=img.labels))
        return pb.UpdateImageResponse(image=to_pb_image(img))

    @abort_on_error
    def Delete(self, request: pb.DeleteImageRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        ns = namespaces.from_context(context)
        target = request.target.digest if request.HasField("target") else ""
        self.store.delete(ns, request.name, target)
        self._publish(ns, "/images/delete", events.ImageDelete(name=request.name))
        if self.gc is not None:
            if request.sync:
                self.gc.collect([ns])
            else:
                self.gc.schedule()
        return empty_pb2.Empty()
