"""Lease records by namespace (containerd's metadata/leases.go)."""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pyd_containerd import identifiers
from pyd_containerd.metadata import common, filters
from pyd_containerd.metadata.schema import lease_resources, leases
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound

# resource types, as upstream names them
CONTENT = "content"
INGESTS = "ingests"
SNAPSHOTS_PREFIX = "snapshots/"  # + snapshotter name


@dataclass
class Lease:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Resource:
    id: str
    type: str


def _check_resource(r: Resource) -> None:
    if not r.id:
        raise InvalidArgument("resource id must not be empty")
    if r.type not in (CONTENT, INGESTS) and not (
            r.type.startswith(SNAPSHOTS_PREFIX) and len(r.type) > len(SNAPSHOTS_PREFIX)):
        raise InvalidArgument(f"unsupported resource type {r.type!r}")


class LeaseStore:
    """Leases and their resources; each change one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, namespace: str, lease: Lease) -> Lease:
        if not lease.id:
            lease.id = secrets.token_hex(8)
        identifiers.validate_lease(lease.id)
        common.validate_labels(lease.labels)
        ts = common.now()
        try:
            with common.write(self.engine, namespace, create=True) as conn:
                if conn.execute(select(leases.c.id).where(
                        leases.c.namespace == namespace, leases.c.id == lease.id)).first():
                    raise AlreadyExists(f"lease {lease.id!r}: already exists")
                conn.execute(insert(leases).values(namespace=namespace, id=lease.id,
                                                   labels=common.dump_labels(lease.labels),
                                                   created_at=ts))
        except IntegrityError as e:
            raise AlreadyExists(f"lease {lease.id!r}: already exists") from e
        lease.created_at = ts
        return lease

    def delete(self, namespace: str, id: str) -> None:
        with common.write(self.engine, namespace) as conn:
            if not conn.execute(delete(leases).where(leases.c.namespace == namespace,
                                                     leases.c.id == id)).rowcount:
                raise NotFound(f"lease {id!r}: not found")

    def list(self, namespace: str, filter_strs: Sequence[str] = ()) -> builtins.list[Lease]:
        flt = filters.parse(filter_strs)
        with self.engine.connect() as conn:
            rows = conn.execute(select(leases).where(leases.c.namespace == namespace)
                                .order_by(leases.c.created_at)).all()
        out = [Lease(r.id, common.load_labels(r.labels), common.utc(r.created_at))
               for r in rows]
        return [le for le in out if flt.match(filters.labels_getter({"id": le.id}, le.labels))]

    def add_resource(self, namespace: str, id: str, r: Resource) -> None:
        _check_resource(r)
        with common.write(self.engine, namespace) as conn:
            if not conn.execute(select(leases.c.id).where(
                    leases.c.namespace == namespace, leases.c.id == id)).first():
                raise NotFound(f"lease {id!r}: not found")
            conn.execute(insert(lease_resources).prefix_with("OR IGNORE").values(
                namespace=namespace, lease=id, type=r.type, resource=r.id))

    def delete_resource(self, namespace: str, id: str, r: Resource) -> None:
        with common.write(self.engine, namespace) as conn:
            if not conn.execute(select(leases.c.id).where(
                    leases.c.namespace == namespace, leases.c.id == id)).first():
                raise NotFound(f"lease {id!r}: not found")
            conn.execute(delete(lease_resources).where(
                lease_resources.c.namespace == namespace, lease_resources.c.lease == id,
                lease_resources.c.type == r.type, lease_resources.c.resource == r.id))

    def resources(self, namespace: str, id: str) -> builtins.list[Resource]:
        with self.engine.connect() as conn:
            if not conn.execute(select(leases.c.id).where(
                    leases.c.namespace == namespace, leases.c.id == id)).first():
                raise NotFound(f"lease {id!r}: not found")
            rows = conn.execute(select(lease_resources.c.resource, lease_resources.c.type)
                                .where(lease_resources.c.namespace == namespace,
                                       lease_resources.c.lease == id)).all()
        return [Resource(r[0], r[1]) for r in rows]
