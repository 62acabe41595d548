"""Namespaces: the top level every other containerd record lives under."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pyd_containerd import identifiers
from pyd_containerd.metadata.schema import namespace_labels, namespaces
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, NotFound


@dataclass
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


class NamespaceStore:
    """Namespace records; each change is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, ns: Namespace) -> Namespace:
        identifiers.validate(ns.name)
        with self.engine.begin() as conn:
            if conn.execute(select(namespaces.c.name).where(namespaces.c.name == ns.name)).first():
                raise AlreadyExists(f"namespace {ns.name}: already exists")
            conn.execute(insert(namespaces).values(name=ns.name, created_at=datetime.now(UTC)))
            if ns.labels:
                conn.execute(insert(namespace_labels), [
                    {"namespace": ns.name, "key": k, "value": v} for k, v in ns.labels.items()])
        return ns

    def ensure(self, name: str) -> None:
        """Create `name` if it does not exist yet (first use of a namespace creates it)."""
        identifiers.validate(name)
        with self.engine.begin() as conn:
            if not conn.execute(select(namespaces.c.name).where(namespaces.c.name == name)).first():
                conn.execute(insert(namespaces).values(name=name, created_at=datetime.now(UTC)))

    def get(self, name: str) -> Namespace:
        with self.engine.connect() as conn:
            if not conn.execute(select(namespaces.c.name).where(namespaces.c.name == name)).first():
                raise NotFound(f"namespace {name}: not found")
            rows = conn.execute(select(namespace_labels.c.key, namespace_labels.c.value)
                                .where(namespace_labels.c.namespace == name))
            return Namespace(name, {k: v for k, v in rows})

    def list(self) -> list[Namespace]:
        with self.engine.connect() as conn:
            names = [r[0] for r in conn.execute(select(namespaces.c.name)
                                                .order_by(namespaces.c.name))]
            out = {n: Namespace(n) for n in names}
            for ns, k, v in conn.execute(select(namespace_labels.c.namespace,
                                                namespace_labels.c.key, namespace_labels.c.value)):
                out[ns].labels[k] = v
        return list(out.values())

    def update(self, ns: Namespace, paths: builtins.list[str]) -> Namespace:
        """Replace the labels (or only the `labels.<key>` paths named in the mask)."""
        with self.engine.begin() as conn:
            if not conn.execute(select(namespaces.c.name)
                                .where(namespaces.c.name == ns.name)).first():
                raise NotFound(f"namespace {ns.name}: not found")
            keys = [p.removeprefix("labels.") for p in paths if p.startswith("labels.")]
            if not paths or "labels" in paths:
                conn.execute(delete(namespace_labels)
                             .where(namespace_labels.c.namespace == ns.name))
                keys = list(ns.labels)
            for key in keys:
                conn.execute(delete(namespace_labels).where(
                    namespace_labels.c.namespace == ns.name, namespace_labels.c.key == key))
                if key in ns.labels:
                    conn.execute(insert(namespace_labels).values(
                        namespace=ns.name, key=key, value=ns.labels[key]))
        return self.get(ns.name)

    def delete(self, name: str) -> None:
        """Remove an empty namespace; FailedPrecondition while records live in it."""
        try:
            with self.engine.begin() as conn:
                if not conn.execute(delete(namespaces).where(namespaces.c.name == name)).rowcount:
                    raise NotFound(f"namespace {name}: not found")
        except IntegrityError as e:  # a record still references it (foreign key)
            raise FailedPrecondition(f"namespace {name} must be empty, but it still holds "
                                     "containers, images, content, snapshots or leases") from e
