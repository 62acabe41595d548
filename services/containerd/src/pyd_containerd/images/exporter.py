"""Exporting images as one tar (containerd's archive.Export with Docker's manifest.json).

The tar is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`)
and also carries Docker's `manifest.json`, as `docker save` writes it since
Docker 25: both `docker load` and OCI tools read it, and so does our importer.
An image whose target is an index is exported as its manifest for one
platform (the other platforms' blobs are usually not here).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from typing import IO

from pyd_containerd.images import ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, reference
from pyd_containerd.images.store import ImageStore
from pyd_containerd.images.unpack import DEFAULT_PLATFORM, resolve
from pyd_containerd.metadata.content import ContentStore
from pyd_proto.errdefs import InvalidArgument, NotFound


class Exporter:
    def __init__(self, image_store: ImageStore, content: ContentStore) -> None:
        self.images = image_store
        self.content = content

    def export(self, ns: str, names: Sequence[str], out: IO[bytes],
               platform: str = DEFAULT_PLATFORM) -> None:
        """Write the images `names` (all must exist) as a tar to `out`."""
        if not names:
            raise InvalidArgument("name at least one image to export")
        blobs: list[tuple[str, int]] = []
        seen: set[str] = set()
        index: list[dict[str, object]] = []
        docker: list[dict[str, object]] = []
        by_config: dict[str, dict[str, object]] = {}
        for name in names:
            img = self.images.get(ns, name)
            res = resolve(self.content, ns, img.target, platform)
            for d in (res.manifest_desc, res.config_desc, *res.layers):
                if d.digest not in seen:
                    seen.add(d.digest)
                    blobs.append((d.digest, self.content.info(ns, d.digest).size))
            ann = {ANNOTATION_IMAGE_NAME: img.name}
            tag = reference.parse(img.name, default_tag="").tag if "@" not in img.name else ""
            if tag:
                ann[ANNOTATION_REF_NAME] = tag
            index.append({"mediaType": res.manifest_desc.media_type,
                          "digest": res.manifest_desc.digest,
                          "size": res.manifest_desc.size, "annotations": ann})
            entry = by_config.get(res.config_desc.digest)
            if entry is None:
                entry = {"Config": _blob_path(res.config_desc.digest), "RepoTags": [],
                         "Layers": [_blob_path(x.digest) for x in res.layers]}
                by_config[res.config_desc.digest] = entry
                docker.append(entry)
            if tag:
                tags = entry["RepoTags"]
                assert isinstance(tags, list)
                tags.append(reference.familiar(img.name))
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            _add_bytes(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            _add_dir(tf, "blobs")
            _add_dir(tf, "blobs/sha256")
            for digest, size in blobs:
                ti = tarfile.TarInfo(_blob_path(digest))
                ti.size, ti.mode = size, 0o444
                try:
                    with self.content.open(ns, digest) as f:
                        tf.addfile(ti, f)
                except NotFound as e:
                    raise NotFound(f"image blob {digest} is missing: {e}") from e
            _add_bytes(tf, "index.json", json.dumps(
                {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": index}).encode())
            _add_bytes(tf, "manifest.json", json.dumps(docker).encode())


def _blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), 0o444
    tf.addfile(ti, io.BytesIO(data))


def _add_dir(tf: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    tf.addfile(ti)
