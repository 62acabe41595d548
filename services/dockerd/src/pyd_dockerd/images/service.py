"""dockerd's view of images (moby's daemon/containerd image service): names, IDs,
configs and rootfs chain IDs, all read from pyd-containerd through libcontainerd."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyd_dockerd.images import busybox, reference
from pyd_dockerd.libcontainerd.client import ContainerdClient
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger("pyd.dockerd.images")

INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}
CHUNK = 1 << 20


@dataclass
class ImageInfo:
    id: str                      # the config digest: Docker's image ID
    names: list[str]             # containerd names (normalized)
    config: dict[str, Any]       # the image config JSON (architecture, config, rootfs ...)
    chain_id: str                # the committed snapshot the rootfs is prepared from
    size: int = 0
    created: datetime | None = None
    target_digest: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def repo_tags(self) -> list[str]:
        return [reference.familiar(n) for n in self.names if "@" not in n]

    @property
    def run_config(self) -> dict[str, Any]:
        """The image's default Cmd, Entrypoint, Env, WorkingDir, User ..."""
        cfg = self.config.get("config") or {}
        return dict(cfg)


def chain_id(diff_ids: list[str]) -> str:
    """identity.ChainID: chain(n) = sha256(chain(n-1) + " " + diff(n))."""
    if not diff_ids:
        raise InvalidArgument("image has no layers")
    chain = diff_ids[0]
    for d in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {d}".encode()).hexdigest()
    return chain


class ImageService:
    def __init__(self, containerd: ContainerdClient) -> None:
        self.containerd = containerd

    def _manifest(self, digest: str, media_type: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.containerd.read_blob(digest))
        if media_type in INDEX_TYPES or "manifests" in doc:
            for m in doc.get("manifests", []):
                p = m.get("platform") or {}
                if p.get("os", "linux") == "linux" and p.get("architecture",
                                                             "amd64") == "amd64":
                    return self._manifest(m["digest"], m.get("mediaType", ""))
            raise NotFound("no matching manifest for linux/amd64 in the manifest list entries")
        return doc

    def _info(self, names: list[str], target: Any, created: datetime | None,
              labels: dict[str, str]) -> ImageInfo:
        manifest = self._manifest(target.digest, target.media_type)
        cfg_digest = manifest["config"]["digest"]
        config = json.loads(self.containerd.read_blob(cfg_digest))
        size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers", []))
        return ImageInfo(id=cfg_digest, names=names, config=config,
                         chain_id=chain_id(config.get("rootfs", {}).get("diff_ids", [])),
                         size=size, created=created, target_digest=target.digest,
                         labels=labels)

    def layers(self, info: ImageInfo) -> builtins.list[tuple[str, int]]:
        """(digest, size) of each layer of the image's manifest, bottom first."""
        manifest = self._manifest(info.target_digest, "")
        return [(str(layer.get("digest", "")), int(layer.get("size", 0)))
                for layer in manifest.get("layers", [])]

    def list(self) -> list[ImageInfo]:
        """One entry per image ID, with every name pointing at it."""
        by_target: dict[str, tuple[list[str], Any, datetime | None, dict[str, str]]] = {}
        for img in self.containerd.list_images():
            created = img.created_at.ToDatetime() if img.created_at.seconds else None
            entry = by_target.setdefault(img.target.digest,
                                         ([], img.target, created, dict(img.labels)))
            entry[0].append(img.name)
        out: dict[str, ImageInfo] = {}
        for names, target, created, labels in by_target.values():
            info = self._info(sorted(names), target, created, labels)
            if info.id in out:
                out[info.id].names.extend(names)
            else:
                out[info.id] = info
        return sorted(out.values(), key=lambda i: i.created or datetime.min, reverse=True)

    def get(self, ref: str) -> ImageInfo:
        """By name (`busybox`, `busybox:1`), full or short ID (`sha256:ab..`, `ab12..`)."""
        try:
            name = reference.normalize(ref)
        except InvalidArgument:
            name = ""
        if name:
            try:
                img = self.containerd.get_image(name)
            except NotFound:
                pass
            else:
                created = img.created_at.ToDatetime() if img.created_at.seconds else None
                return self._info([name], img.target, created, dict(img.labels))
        hexpart = ref.removeprefix("sha256:")
        if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
            matches = [i for i in self.list() if i.id.removeprefix("sha256:").startswith(hexpart)]
            if len(matches) == 1:
                return matches[0]
        raise NotFound(f"No such image: {ref}")

    def load(self, chunks: Iterator[bytes]) -> builtins.list[str]:
        """`docker load`: a docker-save or OCI archive; returns the familiar names loaded."""
        images = self.containerd.import_archive(chunks)
        return [reference.familiar(i.name) for i in images]

    def import_rootfs(self, chunks: Iterator[bytes], name: str,
                      config: dict[str, Any] | None = None) -> builtins.list[str]:
        """`docker import`: a plain rootfs tarball becomes a one-layer image."""
        full = reference.normalize(name) if name else ""
        images = self.containerd.import_archive(
            chunks, kind="rootfs", name=full,
            config_json=json.dumps(config or {}).encode())
        return [i.target.digest for i in images]

    def tag(self, source: str, target: str) -> str:
        """Point the name `target` at `source`'s image; returns the normalized name."""
        img = self.get(source)
        name = reference.normalize(target)
        if "@" in name:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        if not img.names:
            raise NotFound(f"No such image: {source}")
        from pyd_proto.containerd.services.images.v1 import images_pb2

        new = images_pb2.Image(name=name)
        new.target.CopyFrom(self.containerd.get_image(img.names[0]).target)
        with contextlib.suppress(NotFound):
            self.containerd.delete_image(name)
        self.containerd.create_image(new)
        return name

    def remove(self, ref: str, *, force: bool = False,
               in_use: dict[str, str] | None = None) -> builtins.list[tuple[str, str]]:
        """`docker rmi`: untag a name, deleting the image when its last name goes.
        Returns [("Untagged"|"Deleted", what)] as Docker reports it."""
        img = self.get(ref)
        # get() names only what was asked for; the image's other names decide the rest.
        img.names = sorted({n for i in self.list() if i.id == img.id for n in i.names})
        in_use = in_use or {}
        by_name = False
        with contextlib.suppress(InvalidArgument):
            by_name = reference.normalize(ref) in img.names
        names = [reference.normalize(ref)] if by_name else list(img.names)
        if not by_name and len(img.names) > 1 and not force:
            raise FailedPrecondition(
                f"conflict: unable to delete {img.id.removeprefix('sha256:')[:12]} (must be "
                "forced) - image is referenced in multiple repositories")
        # Untagging one of several names never deletes the image, used or not.
        last = set(names) >= set(img.names)
        user = in_use.get(img.id)
        if last and user and not force:
            raise FailedPrecondition(
                f'conflict: unable to remove repository reference "{ref}" (must force) - '
                f"container {user[:12]} is using its referenced image "
                f"{img.id.removeprefix('sha256:')[:12]}")
        out = []
        for n in names:
            self.containerd.delete_image(n)
            out.append(("Untagged", reference.familiar(n)))
        if last:
            out.append(("Deleted", img.id))
        return out

    def ensure_default(self) -> None:
        """Load the embedded busybox:latest when the engine has no busybox image yet."""
        try:
            self.containerd.get_image(reference.normalize(busybox.REPO_TAG))
            return
        except NotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="pyd-busybox-") as d:
            built = busybox.build(os.path.join(d, "busybox.tar"))
            with open(built.path, "rb") as f:
                self.load(iter(lambda: f.read(CHUNK), b""))
        log.info("loaded the embedded image", extra={"image": busybox.REPO_TAG})
