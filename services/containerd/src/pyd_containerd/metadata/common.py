"""Helpers every namespaced record store shares: write transactions, labels, times."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from pyd_containerd.metadata.schema import namespaces
from pyd_proto.errdefs import InvalidArgument, NotFound

MAX_LABEL_SIZE = 4096


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@contextmanager
def write(engine: Engine, namespace: str, *, create: bool = False) -> Iterator[Connection]:
    """One write transaction in `namespace`, holding SQLite's write lock from its start.

    The first statement writes the namespace row (inserting it when `create`,
    touching it otherwise), so the transaction takes the write lock at once and
    every read inside it sees a stable database; a plain read-then-write
    transaction could lose a race in WAL mode. A namespace that does not exist
    is NotFound unless `create`.
    """
    with engine.begin() as conn:
        if create:
            conn.execute(insert(namespaces).prefix_with("OR IGNORE")
                         .values(name=namespace, created_at=now()))
        elif not conn.execute(update(namespaces).where(namespaces.c.name == namespace)
                              .values(name=namespace)).rowcount:
            raise NotFound(f"namespace {namespace}: not found")
        yield conn


def namespace_exists(conn: Connection, namespace: str) -> bool:
    return conn.execute(select(namespaces.c.name)
                        .where(namespaces.c.name == namespace)).first() is not None


def validate_labels(labels: dict[str, str]) -> dict[str, str]:
    """containerd's label rule: key and value together at most 4096 bytes."""
    for k, v in labels.items():
        if len(k) + len(v) > MAX_LABEL_SIZE:
            raise InvalidArgument(f"label key and value length ({len(k) + len(v)} bytes) "
                                  f"greater than maximum size ({MAX_LABEL_SIZE} bytes), key: "
                                  f"{k[:32]}")
    return labels


def dump_labels(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


def load_labels(text: str | None) -> dict[str, str]:
    return dict(json.loads(text)) if text else {}


def apply_label_paths(current: dict[str, str], new: dict[str, str],
                      paths: list[str]) -> dict[str, str] | None:
    """Labels after an update with field mask `paths`; None when the mask names no labels.

    `labels` replaces them all; `labels.<key>` sets (or removes, when absent in
    `new`) one key, as containerd's field-mask updates do.
    """
    touched = False
    out = dict(current)
    for p in paths:
        if p == "labels":
            out = dict(new)
            touched = True
        elif p.startswith("labels."):
            key = p.removeprefix("labels.")
            if key in new:
                out[key] = new[key]
            else:
                out.pop(key, None)
            touched = True
    return validate_labels(out) if touched else None
