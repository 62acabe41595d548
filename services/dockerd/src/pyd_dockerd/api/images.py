"""pyd.dockerd.v1.Images (moby's api/server/router/image) over the daemon's
ImageService."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format

from pyd_dockerd.daemon.daemon import Daemon
from pyd_dockerd.images import reference
from pyd_dockerd.images.service import ImageInfo
from pyd_proto.errdefs import InvalidArgument, NotFound, PydError, abort_on_error
from pyd_proto.pyd.dockerd.v1 import images_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import images_pb2_grpc as pb_grpc
from pyd_proto.pyd.dockerd.v1 import types_pb2

SERVICE = pb.DESCRIPTOR.services_by_name["Images"].full_name

# Dockerfile-style instructions `docker import --change` accepts.
_CHANGES = {"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "ENV": "Env", "WORKDIR": "WorkingDir",
            "USER": "User", "LABEL": "Labels", "EXPOSE": "ExposedPorts",
            "STOPSIGNAL": "StopSignal", "VOLUME": "Volumes"}


def apply_changes(changes: list[str]) -> dict[str, Any]:
    """`--change 'CMD ["sh"]'` lines → an image config's `config` section."""
    cfg: dict[str, Any] = {}
    for line in changes:
        word, _, rest = line.strip().partition(" ")
        key = _CHANGES.get(word.upper())
        if key is None:
            raise InvalidArgument(f"{word} is not a valid change command")
        rest = rest.strip()
        if key in ("Cmd", "Entrypoint"):
            cfg[key] = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
        elif key == "Env":
            cfg.setdefault("Env", []).append(rest.replace(" ", "=", 1) if "=" not in rest
                                             else rest)
        elif key == "Labels":
            k, _, v = rest.partition("=")
            cfg.setdefault("Labels", {})[k] = v.strip('"')
        elif key in ("ExposedPorts", "Volumes"):
            cfg.setdefault(key, {})[rest] = {}
        else:
            cfg[key] = rest
    return cfg


def import_rootfs(d: Daemon, chunks: Iterator[bytes], repo: str, tag: str,
                  changes: list[str]) -> tuple[str, str]:
    """`docker import` for Images.Import and the Engine API's POST /images/create:
    the rootfs becomes a one-layer image named `repo[:tag]` (the tag may be part of
    `repo`, as the CLIs send it). Returns (image id, name given, "" for none).

    containerd builds the image config around the `config` section it is given, so
    that is what goes over: the `--change` instructions. The commit message (`-m`) has
    no place there and is not recorded."""
    if repo and not tag and ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    name = f"{repo}:{tag or 'latest'}" if repo else ""
    config = apply_changes(changes)
    digests = d.images.import_rootfs(chunks, name, config)
    ref = name or (digests[0] if digests else "")
    image_id = ref
    with contextlib.suppress(NotFound, InvalidArgument):
        image_id = d.images.get(ref).id
    d.events.emit("image", "import", image_id, {"name": name})
    return image_id, name


def _summary(i: ImageInfo, containers: int) -> pb.ImageSummary:
    s = pb.ImageSummary(id=i.id, repo_tags=i.repo_tags or ["<none>:<none>"], size=i.size,
                        labels=(i.config.get("config") or {}).get("Labels") or {},
                        containers=containers)
    if i.created:
        s.created.FromDatetime(i.created.replace(tzinfo=UTC) if i.created.tzinfo is None
                               else i.created)
    return s


class ImagesService(pb_grpc.ImagesServicer):
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    def _users(self) -> dict[str, str]:
        """image id → a container using it."""
        return {c.image: c.id for c in self.d.containers.list()}

    @abort_on_error
    def List(self, request: pb.ListImagesRequest,
             context: grpc.ServicerContext) -> pb.ListImagesResponse:
        users: dict[str, int] = {}
        for c in self.d.containers.list():
            users[c.image] = users.get(c.image, 0) + 1
        refs = [v for v in request.filters["reference"].values] if \
            "reference" in request.filters else []
        out = []
        for i in self.d.images.list():
            if refs and not any(t.split(":")[0] == r.split(":")[0] for r in refs
                                for t in i.repo_tags):
                continue
            out.append(_summary(i, users.get(i.id, 0)))
        return pb.ListImagesResponse(images=out)

    @abort_on_error
    def Inspect(self, request: pb.InspectImageRequest,
                context: grpc.ServicerContext) -> pb.ImageInspect:
        i = self.d.images.get(request.name)
        cfg = i.config
        doc = {"Id": i.id, "RepoTags": i.repo_tags, "RepoDigests": [],
               "Config": cfg.get("config") or {}, "Architecture": cfg.get("architecture", ""),
               "Os": cfg.get("os", ""), "Size": i.size, "Author": cfg.get("author", ""),
               "Comment": cfg.get("comment", ""),
               "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
               "GraphDriver": {"Name": "overlayfs", "Data": {}},
               "TargetDigest": i.target_digest}
        if cfg.get("created"):
            doc["Created"] = cfg["created"]
        out: pb.ImageInspect = json_format.ParseDict(doc, pb.ImageInspect(),
                                                     ignore_unknown_fields=True)
        return out

    @abort_on_error
    def Load(self, request_iterator: Iterator[pb.LoadImageRequest],
             context: grpc.ServicerContext) -> pb.LoadImageResponse:
        names = self.d.images.load(r.chunk for r in request_iterator if r.chunk)
        loaded = []
        for n in names:
            with contextlib.suppress(NotFound):
                loaded.append(pb.LoadedImage(ref=n, id=self.d.images.get(n).id))
        for n in names:
            self.d.events.emit("image", "load", n, {"name": n})
        return pb.LoadImageResponse(images=loaded)

    @abort_on_error
    def Import(self, request_iterator: Iterator[pb.ImportImageRequest],
               context: grpc.ServicerContext) -> pb.ImportImageResponse:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument("the first import message must be the header")
        h = first.header
        image_id, _ = import_rootfs(self.d, (r.chunk for r in request_iterator if r.chunk),
                                    h.repo, h.tag, list(h.changes))
        return pb.ImportImageResponse(id=image_id)

    @abort_on_error
    def Save(self, request: pb.SaveImagesRequest,
             context: grpc.ServicerContext) -> Iterator[types_pb2.TarChunk]:
        names = []
        for n in request.names:
            img = self.d.images.get(n)
            names.append(reference.normalize(n) if not n.startswith("sha256:") else
                         img.names[0])
        for data in self.d.containerd.export(names):
            yield types_pb2.TarChunk(data=data)

    @abort_on_error
    def Pull(self, request: pb.PullImageRequest,
             context: grpc.ServicerContext) -> Iterator[pb.ProgressMessage]:
        ref = request.image + (f":{request.tag}" if request.tag else "")
        name = reference.normalize(ref)
        host = name.split("/", 1)[0]
        plain = host.startswith(("localhost", "127.")) or host.endswith(".local")
        tag = name.rsplit(":", 1)[-1] if "@" not in name else name.split("@", 1)[1]
        repo = reference.familiar(name).rsplit(":", 1)[0]
        pulling: pb.ProgressMessage | None = pb.ProgressMessage(
            status=f"{tag}: Pulling from {repo}")
        try:
            for p in self.d.containerd.pull(name, plain_http=plain):
                # As moby, "Pulling from" follows the manifest's resolution, so an
                # unknown image or an unreachable registry fails before any progress
                # and the CLI shows it as the daemon's error response.
                if pulling is not None:
                    yield pulling
                    pulling = None
                if p.id:
                    yield pb.ProgressMessage(id=p.id[7:19] if p.id.startswith("sha256:")
                                             else p.id, status=p.status,
                                             progress_detail=pb.ProgressDetail(
                                                 current=p.current, total=p.total))
        except PydError as e:
            yield pb.ProgressMessage(error=str(e), error_detail=pb.ErrorDetail(message=str(e)))
            return
        if pulling is not None:
            yield pulling
        img = self.d.images.get(name)
        yield pb.ProgressMessage(status=f"Digest: {img.target_digest}")
        yield pb.ProgressMessage(status=f"Status: Downloaded newer image for "
                                        f"{reference.familiar(name)}")
        self.d.events.emit("image", "pull", name, {"name": reference.familiar(name)})

    @abort_on_error
    def Tag(self, request: pb.TagImageRequest,
            context: grpc.ServicerContext) -> empty_pb2.Empty:
        target = request.repo + (f":{request.tag}" if request.tag else "")
        name = self.d.images.tag(request.source, target)
        self.d.events.emit("image", "tag", name, {"name": reference.familiar(name)})
        return empty_pb2.Empty()

    @abort_on_error
    def Remove(self, request: pb.RemoveImageRequest,
               context: grpc.ServicerContext) -> pb.RemoveImageResponse:
        items = self.d.images.remove(request.image, force=request.force,
                                     in_use=self._users())
        out = [pb.ImageDeleteItem(untagged=v) if k == "Untagged" else
               pb.ImageDeleteItem(deleted=v) for k, v in items]
        self.d.events.emit("image", "delete", request.image, {"name": request.image})
        return pb.RemoveImageResponse(items=out)

    @abort_on_error
    def Prune(self, request: pb.PruneImagesRequest,
              context: grpc.ServicerContext) -> pb.PruneImagesResponse:
        dangling_only = not any(v == "false" for v in
                                request.filters["dangling"].values) if \
            "dangling" in request.filters else True
        users = self._users()
        deleted = []
        for i in self.d.images.list():
            if i.id in users or (dangling_only and i.repo_tags):
                continue
            for kind, what in self.d.images.remove(i.id, force=True):
                deleted.append(pb.ImageDeleteItem(untagged=what) if kind == "Untagged"
                               else pb.ImageDeleteItem(deleted=what))
        return pb.PruneImagesResponse(images_deleted=deleted)

