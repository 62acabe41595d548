"""Container records (containerd's metadata/containers.go): namespaced, one transaction each.

A container record is metadata only: the runtime, the OCI spec, the snapshot
holding its root filesystem. Its task (the running process) is the Tasks
service's business.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf import any_pb2
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_containerd import identifiers
from pyd_containerd.metadata import common, filters
from pyd_containerd.metadata.schema import containers
from pyd_proto.containerd.services.containers.v1 import containers_pb2
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound


@dataclass
class Runtime:
    name: str = ""
    options: any_pb2.Any | None = None


@dataclass
class Container:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    runtime: Runtime = field(default_factory=Runtime)
    spec: any_pb2.Any | None = None
    snapshotter: str = ""
    snapshot_key: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extensions: dict[str, any_pb2.Any] = field(default_factory=dict)
    sandbox: str = ""


def _any_bytes(value: any_pb2.Any | None) -> bytes | None:
    return value.SerializeToString() if value is not None else None


def _any_load(data: bytes | None) -> any_pb2.Any | None:
    if data is None:
        return None
    out = any_pb2.Any()
    out.ParseFromString(data)
    return out


def _ext_bytes(ext: dict[str, any_pb2.Any]) -> bytes | None:
    # the map is stored as the upstream message's own map field encodes it
    return containers_pb2.Container(extensions=ext).SerializeToString() if ext else None


def _ext_load(data: bytes | None) -> dict[str, any_pb2.Any]:
    if not data:
        return {}
    holder = containers_pb2.Container()
    holder.ParseFromString(data)
    return dict(holder.extensions)


def _from_row(r: Any) -> Container:
    return Container(
        id=r.id, labels=common.load_labels(r.labels), image=r.image,
        runtime=Runtime(r.runtime_name, _any_load(r.runtime_options)),
        spec=_any_load(r.spec), snapshotter=r.snapshotter, snapshot_key=r.snapshot_key,
        created_at=common.utc(r.created_at), updated_at=common.utc(r.updated_at),
        extensions=_ext_load(r.extensions), sandbox=r.sandbox)


def _getter(c: Container) -> filters.Getter:
    return filters.labels_getter(
        {"id": c.id, "image": c.image, "runtime.name": c.runtime.name,
         "snapshotter": c.snapshotter, "snapshot_key": c.snapshot_key, "sandbox": c.sandbox},
        c.labels)


def _validate(c: Container) -> None:
    identifiers.validate(c.id)
    common.validate_labels(c.labels)
    if not c.runtime.name:
        raise InvalidArgument(f"container {c.id}: must specify a runtime name")
    if c.spec is None:
        raise InvalidArgument(f"container {c.id}: must specify a spec")
    if c.snapshot_key and not c.snapshotter:
        raise InvalidArgument(f"container {c.id}: must set snapshotter if snapshot key is set")


class ContainerStore:
    """Container records in SQLite; each change is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, namespace: str, id: str) -> Container:
        """The container `id`; NotFound when it (or its namespace) does not exist."""
        with self.engine.connect() as conn:
            row = conn.execute(select(containers).where(
                containers.c.namespace == namespace, containers.c.id == id)).first()
        if row is None:
            raise NotFound(f"container {id!r} in namespace {namespace!r}: not found")
        return _from_row(row)

    def list(self, namespace: str, filter_strs: Sequence[str] = ()) -> builtins.list[Container]:
        """Containers of `namespace` matching any of the filters (all when none)."""
        flt = filters.parse(filter_strs)
        with self.engine.connect() as conn:
            rows = conn.execute(select(containers).where(containers.c.namespace == namespace)
                                .order_by(containers.c.id)).all()
        out = [_from_row(r) for r in rows]
        return [c for c in out if flt.match(_getter(c))]

    def create(self, namespace: str, c: Container) -> Container:
        """Store a new record; AlreadyExists when the id is taken in the namespace."""
        _validate(c)
        ts = common.now()
        try:
            with common.write(self.engine, namespace, create=True) as conn:
                if conn.execute(select(containers.c.id).where(
                        containers.c.namespace == namespace, containers.c.id == c.id)).first():
                    raise AlreadyExists(f"container {c.id!r}: already exists")
                conn.execute(insert(containers).values(
                    namespace=namespace, id=c.id, labels=common.dump_labels(c.labels),
                    image=c.image, runtime_name=c.runtime.name,
                    runtime_options=_any_bytes(c.runtime.options), spec=_any_bytes(c.spec),
                    snapshotter=c.snapshotter, snapshot_key=c.snapshot_key,
                    sandbox=c.sandbox, extensions=_ext_bytes(c.extensions),
                    created_at=ts, updated_at=ts))
        except IntegrityError as e:
            raise AlreadyExists(f"container {c.id!r}: already exists") from e
        c.created_at = c.updated_at = ts
        return c

    def update(self, namespace: str, c: Container,
               paths: Sequence[str] = ()) -> Container:
        """Apply the fields named in `paths` (all mutable ones when empty) to record `c.id`."""
        with common.write(self.engine, namespace) as conn:
            row = conn.execute(select(containers).where(
                containers.c.namespace == namespace, containers.c.id == c.id)).first()
            if row is None:
                raise NotFound(f"container {c.id!r}: not found")
            cur = _from_row(row)
            fields = list(paths)
            if not fields:
                fields = ["labels", "spec", "extensions", "image", "snapshotkey"]
                if c.snapshotter != cur.snapshotter:
                    raise InvalidArgument("container.Snapshotter field is immutable")
                if c.runtime.name != cur.runtime.name:
                    raise InvalidArgument("container.Runtime.Name field is immutable")
            labels = common.apply_label_paths(cur.labels, c.labels, fields)
            if labels is not None:
                cur.labels = labels
            for p in fields:
                if p == "labels" or p.startswith("labels."):
                    continue
                if p.startswith("extensions."):
                    key = p.removeprefix("extensions.")
                    if key in c.extensions:
                        cur.extensions[key] = c.extensions[key]
                    else:
                        cur.extensions.pop(key, None)
                elif p == "extensions":
                    cur.extensions = dict(c.extensions)
                elif p == "spec":
                    if c.spec is None:
                        raise InvalidArgument(f"container {c.id}: must specify a spec")
                    cur.spec = c.spec
                elif p == "image":
                    cur.image = c.image
                elif p in ("snapshotkey", "snapshot_key"):
                    cur.snapshot_key = c.snapshot_key
                elif p == "runtime":
                    cur.runtime = c.runtime
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on container {c.id!r}")
            cur.updated_at = common.now()
            conn.execute(update(containers).where(
                containers.c.namespace == namespace, containers.c.id == c.id).values(
                labels=common.dump_labels(cur.labels), image=cur.image,
                runtime_name=cur.runtime.name, runtime_options=_any_bytes(cur.runtime.options),
                spec=_any_bytes(cur.spec), snapshot_key=cur.snapshot_key,
                extensions=_ext_bytes(cur.extensions), updated_at=cur.updated_at))
        return cur

    def delete(self, namespace: str, id: str) -> None:
        """Remove the record; NotFound when there is none."""
        with common.write(self.engine, namespace) as conn:
            if not conn.execute(delete(containers).where(
                    containers.c.namespace == namespace, containers.c.id == id)).rowcount:
                raise NotFound(f"container {id!r}: not found")
