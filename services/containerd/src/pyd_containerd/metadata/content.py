"""Content by namespace (containerd's metadata/content.go) over the on-disk `LocalStore`.

Blobs are shared on disk; each namespace holds its own record (size, labels)
of the blobs it may see. A blob leaves the disk when the last namespace's
record goes (Delete here, or garbage collection).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_containerd.content.local import (
    CHUNK,
    IngestStatus,
    LocalStore,
    Writer,
    validate_digest,
)
from pyd_containerd.metadata import common, filters
from pyd_containerd.metadata.schema import content
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound


@dataclass
class Info:
    digest: str
    size: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _from_row(r: Any) -> Info:
    return Info(r.digest, r.size, common.load_labels(r.labels), common.utc(r.created_at),
                common.utc(r.updated_at))


def _ns_ref(namespace: str, ref: str) -> str:
    return f"{namespace}/{ref}"


class NamespacedWriter:
    """An ingest in one namespace; `commit` records the blob for the namespace."""

    def __init__(self, store: ContentStore, namespace: str, ref: str, w: Writer) -> None:
        self.store = store
        self.namespace = namespace
        self.ref = ref
        self.w = w

    @property
    def offset(self) -> int:
        return self.w.offset

    @property
    def total(self) -> int:
        return self.w.total

    @total.setter
    def total(self, value: int) -> None:
        self.w.total = value

    @property
    def expected(self) -> str:
        return self.w.expected

    @expected.setter
    def expected(self, value: str) -> None:
        self.w.expected = validate_digest(value)

    def digest(self) -> str:
        return self.w.digest()

    def status(self) -> IngestStatus:
        st = self.w.status()
        st.ref = self.ref
        return st

    def write(self, data: bytes) -> int:
        return self.w.write(data)

    def truncate(self, offset: int) -> None:
        self.w.truncate(offset)

    def commit(self, size: int = 0, expected: str = "",
               labels: dict[str, str] | None = None) -> str:
        """Verify and store the blob, and record it in the namespace (one transaction).

        AlreadyExists when the namespace had the blob already (its data is dropped).
        """
        common.validate_labels(labels or {})
        self.w.sync()  # the slow part, before the transaction takes the write lock
        with common.write(self.store.engine, self.namespace, create=True) as conn:
            try:
                digest = self.w.commit(size, expected)
            except AlreadyExists:
                digest = self.w.digest()
            if conn.execute(select(content.c.digest).where(
                    content.c.namespace == self.namespace, content.c.digest == digest)).first():
                raise AlreadyExists(f"content {digest}: already exists")
            ts = common.now()
            conn.execute(insert(content).values(
                namespace=self.namespace, digest=digest, size=self.store.local.size(digest),
                labels=common.dump_labels(labels or {}), created_at=ts, updated_at=ts))
        return digest

    def close(self) -> None:
        self.w.close()

    def __enter__(self) -> NamespacedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ContentStore:
    """Namespaced content: records in SQLite, bytes in a `LocalStore`."""

    def __init__(self, engine: Engine, local: LocalStore) -> None:
        self.engine = engine
        self.local = local

    def info(self, namespace: str, digest: str) -> Info:
        validate_digest(digest)
        with self.engine.connect() as conn:
            row = conn.execute(select(content).where(content.c.namespace == namespace,
                                                     content.c.digest == digest)).first()
        if row is None:
            raise NotFound(f"content digest {digest}: not found")
        return _from_row(row)

    def exists(self, namespace: str, digest: str) -> bool:
        try:
            self.info(namespace, digest)
        except NotFound:
            return False
        return True

    def list(self, namespace: str, filter_strs: Sequence[str] = ()) -> builtins.list[Info]:
        flt = filters.parse(filter_strs)
        with self.engine.connect() as conn:
            rows = conn.execute(select(content).where(content.c.namespace == namespace)
                                .order_by(content.c.digest)).all()
        out = [_from_row(r) for r in rows]
        return [i for i in out if flt.match(filters.labels_getter(
            {"digest": i.digest, "size": str(i.size)}, i.labels))]

    def update(self, namespace: str, info: Info, paths: Sequence[str] = ()) -> Info:
        """Only labels may change (`labels`, `labels.<key>`, or all of them with no mask)."""
        validate_digest(info.digest)
        fields = list(paths) or ["labels"]
        for p in fields:
            if p != "labels" and not p.startswith("labels."):
                raise InvalidArgument(f"cannot update {p!r} field on content {info.digest}")
        with common.write(self.engine, namespace) as conn:
            row = conn.execute(select(content).where(content.c.namespace == namespace,
                                                     content.c.digest == info.digest)).first()
            if row is None:
                raise NotFound(f"content digest {info.digest}: not found")
            cur = _from_row(row)
            labels = common.apply_label_paths(cur.labels, info.labels, fields)
            cur.labels = labels if labels is not None else cur.labels
            cur.updated_at = common.now()
            conn.execute(update(content).where(
                content.c.namespace == namespace, content.c.digest == info.digest).values(
                labels=common.dump_labels(cur.labels), updated_at=cur.updated_at))
        return cur

    def delete(self, namespace: str, digest: str) -> None:
        """Drop the namespace's record; the bytes go when no namespace holds them."""
        validate_digest(digest)
        with common.write(self.engine, namespace) as conn:
            if not conn.execute(delete(content).where(
                    content.c.namespace == namespace, content.c.digest == digest)).rowcount:
                raise NotFound(f"content digest {digest}: not found")
            if not conn.execute(select(content.c.digest)
                                .where(content.c.digest == digest)).first():
                try:
                    self.local.delete(digest)
                except NotFound:
                    pass

    def read(self, namespace: str, digest: str, offset: int = 0,
             size: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset, data) chunks of a blob the namespace holds."""
        self.info(namespace, digest)
        return self.local.read(digest, offset, size)

    def read_all(self, namespace: str, digest: str) -> bytes:
        return b"".join(d for _, d in self.read(namespace, digest))

    def open(self, namespace: str, digest: str) -> IO[bytes]:
        """A file object on the blob (for readers that want to seek, such as tar)."""
        self.info(namespace, digest)
        return open(self.local.blob_path(digest), "rb")

    def writer(self, namespace: str, ref: str, total: int = 0,
               expected: str = "") -> NamespacedWriter:
        """Open or resume the ingest `ref` of `namespace`.

        AlreadyExists when `expected` is already held by the namespace; when the
        blob is on disk for another namespace only, it is shared (recorded here)
        and AlreadyExists tells the caller there is nothing to write.
        """
        if not ref:
            raise InvalidArgument("ref must not be empty")
        if expected:
            validate_digest(expected)
            if self.exists(namespace, expected):
                raise AlreadyExists(f"content {expected}: already exists")
            if self.local.exists(expected):
                self._share(namespace, expected)
                raise AlreadyExists(f"content {expected}: already exists")
        return NamespacedWriter(self, namespace, ref,
                                self.local.writer(_ns_ref(namespace, ref), total, expected))

    def _share(self, namespace: str, digest: str,
               labels: dict[str, str] | None = None) -> None:
        ts = common.now()
        try:
            with common.write(self.engine, namespace, create=True) as conn:
                if not self.local.exists(digest):
                    raise NotFound(f"content {digest}: not found")
                conn.execute(insert(content).prefix_with("OR IGNORE").values(
                    namespace=namespace, digest=digest, size=self.local.size(digest),
                    labels=common.dump_labels(labels or {}), created_at=ts, updated_at=ts))
        except IntegrityError:  # pragma: no cover - raced with another sharer
            pass

    def write_blob(self, namespace: str, ref: str, data: bytes | IO[bytes],
                   expected: str = "", labels: dict[str, str] | None = None,
                   size: int = 0) -> str:
        """Write a whole blob from bytes or a file; its digest (existing blobs are fine).

        Labels given are merged into an existing record's labels.
        """
        try:
            w = self.writer(namespace, ref, size, expected)
        except AlreadyExists:
            assert expected
            if labels:
                self.update(namespace, Info(expected, labels=labels),
                            [f"labels.{k}" for k in labels])
            return expected
        with w:
            w.truncate(0)
            if isinstance(data, bytes):
                w.write(data)
            else:
                while chunk := data.read(CHUNK):
                    w.write(chunk)
            try:
                return w.commit(size, expected, labels)
            except AlreadyExists:
                digest = expected or w.digest()
                if labels:
                    self.update(namespace, Info(digest, labels=labels),
                                [f"labels.{k}" for k in labels])
                return digest

    def status(self, namespace: str, ref: str) -> IngestStatus:
        st = self.local.status(_ns_ref(namespace, ref))
        st.ref = ref
        return st

    def statuses(self, namespace: str,
                 filter_strs: Sequence[str] = ()) -> builtins.list[IngestStatus]:
        flt = filters.parse(filter_strs)
        prefix = namespace + "/"
        out = []
        for st in self.local.statuses():
            if st.ref.startswith(prefix):
                st.ref = st.ref.removeprefix(prefix)
                if flt.match(filters.labels_getter({"ref": st.ref}, {})):
                    out.append(st)
        return out

    def abort(self, namespace: str, ref: str) -> None:
        self.local.abort(_ns_ref(namespace, ref))
