"""`docker system df` (moby daemon/disk_usage.go): what images, containers and
volumes take on disk. Image sizes are their layers' sizes as the manifests record
them (what `images` shows); a layer used by several images counts once in the
total and as shared in each. A container's size is its read-write layer's; a
volume's, the files under its mount point."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyd_dockerd.container import view
from pyd_dockerd.images.service import ImageInfo
from pyd_dockerd.volumes.local import Volume
from pyd_proto.errdefs import NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

TYPES = ("container", "image", "volume", "build-cache")


@dataclass
class ImageUsage:
    info: ImageInfo
    size: int
    shared_size: int
    containers: int


@dataclass
class DataUsage:
    layers_size: int = 0
    images: list[ImageUsage] = field(default_factory=list)
    containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[tuple[Volume, int]] = field(default_factory=list)


def directory_size(path: str) -> int:
    """Bytes in the regular files under `path`, each inode once (moby's
    directory.Size); a missing directory is 0."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(path, onerror=lambda e: None):
        for name in filenames + dirnames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                if name in filenames:
                    total += st.st_size
    return total


def _images(d: Daemon, users: dict[str, int]) -> tuple[int, list[ImageUsage]]:
    infos = d.images.list()
    layers = {i.id: d.images.layers(i) for i in infos}
    owners: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for ls in layers.values():
        for digest, size in dict(ls).items():
            owners[digest] = owners.get(digest, 0) + 1
            sizes[digest] = size
    out = []
    for i in infos:
        own = dict(layers[i.id])
        shared = sum(size for digest, size in own.items() if owners[digest] > 1)
        out.append(ImageUsage(i, sum(own.values()), shared, users.get(i.id, 0)))
    return sum(sizes.values()), out


def _container(d: Daemon, c: Any, image_sizes: dict[str, int]) -> dict[str, Any]:
    s = view.summary(c)
    try:
        size_rw = directory_size(d.upper_dir(c))
    except NotFound:
        size_rw = 0
    s["SizeRw"] = size_rw
    s["SizeRootFs"] = size_rw + image_sizes.get(c.image, 0)
    return s


def data_usage(d: Daemon, types: list[str] | None = None) -> DataUsage:
    """The figures `types` ask for (all when empty)."""
    want = set(types or TYPES)
    out = DataUsage()
    containers = d.containers.list()
    users: dict[str, int] = {}
    for c in containers:
        users[c.image] = users.get(c.image, 0) + 1
    image_sizes: dict[str, int] = {}
    if "image" in want or "container" in want:
        out.layers_size, images = _images(d, users)
        image_sizes = {u.info.id: u.size for u in images}
        if "image" in want:
            out.images = images
        else:
            out.layers_size = 0
    if "container" in want:
        out.containers = [_container(d, c, image_sizes) for c in containers]
    if "volume" in want:
        out.volumes = [(v, directory_size(v.mountpoint) if v.driver == "local" else -1)
                       for v in d.volumes.list_volumes()]
    return out
