"""Image records (containerd's metadata/images.go): name → target descriptor, by namespace."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_containerd.content.local import validate_digest
from pyd_containerd.images import Descriptor
from pyd_containerd.metadata import common, filters
from pyd_containerd.metadata.schema import images
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound


@dataclass
class Image:
    name: str
    target: Descriptor
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _from_row(r: Any) -> Image:
    return Image(
        name=r.name, labels=common.load_labels(r.labels),
        target=Descriptor(r.target_media_type, r.target_digest, r.target_size,
                          common.load_labels(r.target_annotations)),
        created_at=common.utc(r.created_at), updated_at=common.utc(r.updated_at))


def _validate(img: Image) -> None:
    if not img.name:
        raise InvalidArgument("image name must not be empty")
    common.validate_labels(img.labels)
    if not img.target.media_type:
        raise InvalidArgument(f"image {img.name}: Target.MediaType must be set")
    if not img.target.digest:
        raise InvalidArgument(f"image {img.name}: Target.Digest must be set")
    validate_digest(img.target.digest)
    if img.target.size <= 0:
        raise InvalidArgument(f"image {img.name}: Target.Size must be greater than zero")


def _getter(img: Image) -> filters.Getter:
    base = filters.labels_getter({"name": img.name}, img.labels)

    def get(path: list[str]) -> tuple[str, bool]:
        if path and path[0] == "target":
            t = img.target
            sub = {"digest": t.digest, "mediatype": t.media_type, "media_type": t.media_type}
            key = ".".join(path[1:])
            return sub.get(key, ""), key in sub
        return base(path)
    return get


class ImageStore:
    """Image records in SQLite; each change is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, namespace: str, name: str) -> Image:
        with self.engine.connect() as conn:
            row = conn.execute(select(images).where(images.c.namespace == namespace,
                                                    images.c.name == name)).first()
        if row is None:
            raise NotFound(f"image {name!r}: not found")
        return _from_row(row)

    def list(self, namespace: str, filter_strs: Sequence[str] = ()) -> builtins.list[Image]:
        flt = filters.parse(filter_strs)
        with self.engine.connect() as conn:
            rows = conn.execute(select(images).where(images.c.namespace == namespace)
                                .order_by(images.c.name)).all()
        return [i for i in (_from_row(r) for r in rows) if flt.match(_getter(i))]

    def create(self, namespace: str, img: Image) -> Image:
        """AlreadyExists when the name is taken."""
        _validate(img)
        ts = common.now()
        try:
            with common.write(self.engine, namespace, create=True) as conn:
                if conn.execute(select(images.c.name).where(
                        images.c.namespace == namespace, images.c.name == img.name)).first():
                    raise AlreadyExists(f"image {img.name!r}: already exists")
                conn.execute(insert(images).values(
                    namespace=namespace, name=img.name, labels=common.dump_labels(img.labels),
                    target_media_type=img.target.media_type, target_digest=img.target.digest,
                    target_size=img.target.size,
                    target_annotations=json.dumps(img.target.annotations, sort_keys=True),
                    created_at=ts, updated_at=ts))
        except IntegrityError as e:
            raise AlreadyExists(f"image {img.name!r}: already exists") from e
        img.created_at = img.updated_at = ts
        return img

    def update(self, namespace: str, img: Image, paths: Sequence[str] = ()) -> Image:
        """Apply `labels[.k]`, `target`, `annotations[.k]` (all when no mask)."""
        with common.write(self.engine, namespace) as conn:
            row = conn.execute(select(images).where(images.c.namespace == namespace,
                                                    images.c.name == img.name)).first()
            if row is None:
                raise NotFound(f"image {img.name!r}: not found")
            cur = _from_row(row)
            fields = list(paths) or ["labels", "target"]
            labels = common.apply_label_paths(cur.labels, img.labels, fields)
            cur.labels = labels if labels is not None else cur.labels
            for p in fields:
                if p == "labels" or p.startswith("labels."):
                    continue
                if p == "target":
                    cur.target = img.target
                elif p == "annotations":
                    cur.target.annotations = dict(img.target.annotations)
                elif p.startswith("annotations."):
                    key = p.removeprefix("annotations.")
                    if key in img.target.annotations:
                        cur.target.annotations[key] = img.target.annotations[key]
                    else:
                        cur.target.annotations.pop(key, None)
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on image {img.name!r}")
            _validate(cur)
            cur.updated_at = common.now()
            conn.execute(update(images).where(
                images.c.namespace == namespace, images.c.name == img.name).values(
                labels=common.dump_labels(cur.labels), target_media_type=cur.target.media_type,
                target_digest=cur.target.digest, target_size=cur.target.size,
                target_annotations=json.dumps(cur.target.annotations, sort_keys=True),
                updated_at=cur.updated_at))
        return cur

    def put(self, namespace: str, img: Image) -> Image:
        """Create `img`, or point an existing name at its target (import, pull, tag)."""
        try:
            return self.create(namespace, img)
        except AlreadyExists:
            return self.update(namespace, img, ["target", "labels"] if img.labels
                               else ["target"])

    def delete(self, namespace: str, name: str, target_digest: str = "") -> None:
        """Remove `name` (only if it still points at `target_digest`, when given)."""
        with common.write(self.engine, namespace) as conn:
            q = delete(images).where(images.c.namespace == namespace, images.c.name == name)
            if target_digest:
                q = q.where(images.c.target_digest == target_digest)
            if not conn.execute(q).rowcount:
                raise NotFound(f"image {name!r}: not found")
