"""The content store on disk (containerd's content/local): blobs by digest, ingests by ref.

    <root>/blobs/sha256/<hex>        committed, immutable blobs
    <root>/ingest/<sha256(ref)>/     one write in progress: data, ref, total,
                                     expected, startedat

A write can stop and resume (the data file is its offset); its digest is
checked on commit, and a blob whose digest lies never enters blobs/. This layer
knows no namespaces: `pyd_containerd.metadata.content` keeps who owns what.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pyd_proto.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1 << 20


def validate_digest(digest: str) -> str:
    """`sha256:<64 hex>` or InvalidArgument (only sha256 is supported)."""
    if not DIGEST_RE.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: want sha256:<64 lowercase hex>")
    return digest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class IngestStatus:
    ref: str
    offset: int
    total: int
    expected: str
    started_at: datetime
    updated_at: datetime


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return default


def _write_small(path: str, value: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(value)
    os.replace(tmp, path)


class Writer:
    """One ingest: append data, then commit under its digest. Not thread-safe."""

    def __init__(self, store: LocalStore, ref: str, path: str) -> None:
        self.store = store
        self.ref = ref
        self.path = path
        self._fp = open(os.path.join(path, "data"), "ab")
        self._hash = hashlib.sha256()
        # resuming: the digest state is rebuilt from what is already there
        with open(os.path.join(path, "data"), "rb") as f:
            while chunk := f.read(CHUNK):
                self._hash.update(chunk)
        self.offset = self._fp.tell()
        self.closed = False

    @property
    def total(self) -> int:
        return int(_read(os.path.join(self.path, "total"), "0") or 0)

    @total.setter
    def total(self, value: int) -> None:
        _write_small(os.path.join(self.path, "total"), str(value))

    @property
    def expected(self) -> str:
        return _read(os.path.join(self.path, "expected"))

    @expected.setter
    def expected(self, value: str) -> None:
        _write_small(os.path.join(self.path, "expected"), value)

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def status(self) -> IngestStatus:
        return self.store.status(self.ref)

    def write(self, data: bytes) -> int:
        self._fp.write(data)
        self._hash.update(data)
        self.offset += len(data)
        return len(data)

    def truncate(self, offset: int) -> None:
        """Restart the write at `offset` (only 0, or the current offset, can be honoured
        without rereading; any other offset rehashes the kept prefix)."""
        if offset > self.offset or offset < 0:
            raise InvalidArgument(f"cannot truncate ingest {self.ref} to {offset} "
                                  f"(at {self.offset})")
        self._fp.flush()
        self._fp.truncate(offset)
        self._fp.seek(offset)
        self._hash = hashlib.sha256()
        with open(os.path.join(self.path, "data"), "rb") as f:
            left = offset
            while left and (chunk := f.read(min(CHUNK, left))):
                self._hash.update(chunk)
                left -= len(chunk)
        self.offset = offset

    def sync(self) -> None:
        """Flush the data to disk (before a commit, outside any lock)."""
        if not self.closed:
            self._fp.flush()
            os.fsync(self._fp.fileno())

    def commit(self, size: int = 0, expected: str = "") -> str:
        """Move the data to blobs/ under its digest and end the ingest.

        FailedPrecondition (and the ingest removed: it can never become the
        blob it claimed) when `size` or `expected` disagree with the data;
        AlreadyExists when the blob was there already (the ingest is dropped).
        """
        size = size or self.total
        if size and self.offset < size:  # incomplete: the write may still go on
            raise FailedPrecondition(f"unexpected commit size {self.offset}, expected {size}")
        self._fp.flush()
        os.fsync(self._fp.fileno())
        self._fp.close()
        self.closed = True
        actual = self.digest()
        expected = expected or self.expected
        try:
            if size and size != self.offset:
                raise FailedPrecondition(f"unexpected commit size {self.offset}, "
                                         f"expected {size}")
            if expected and expected != actual:
                raise FailedPrecondition(f"unexpected commit digest {actual}, "
                                         f"expected {expected}")
            target = self.store.blob_path(actual)
            if os.path.exists(target):
                raise AlreadyExists(f"content {actual}: already exists")
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            os.chmod(os.path.join(self.path, "data"), 0o444)
            os.rename(os.path.join(self.path, "data"), target)
        finally:
            self.store._drop_ingest(self.ref, self.path)
        return actual

    def close(self) -> None:
        """Stop writing but keep the ingest for a later resume."""
        if not self.closed:
            self._fp.close()
            self.closed = True
        self.store._unlock(self.ref)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalStore:
    """Blobs and ingests under `root` (…/io.containerd.content.v1.content)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "blobs", "sha256"), mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(root, "ingest"), mode=0o700, exist_ok=True)
        self._locks: set[str] = set()
        self._mu = threading.Lock()

    def blob_path(self, digest: str) -> str:
        validate_digest(digest)
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def read(self, digest: str, offset: int = 0, size: int = 0,
             chunk: int = CHUNK) -> Iterator[tuple[int, bytes]]:
        """(offset, data) chunks of the blob from `offset`, `size` bytes (0: to the end)."""
        try:
            f = open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None
        with f:
            end = os.fstat(f.fileno()).st_size
            if offset < 0 or offset > end:
                raise InvalidArgument(f"offset {offset} outside blob of {end} bytes")
            if size > 0:
                end = min(end, offset + size)
            f.seek(offset)
            pos = offset
            while pos < end:
                data = f.read(min(chunk, end - pos))
                if not data:
                    break
                yield pos, data
                pos += len(data)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.blob_path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest}: not found") from None

    def blobs(self) -> list[str]:
        """Every committed digest on disk."""
        d = os.path.join(self.root, "blobs", "sha256")
        return ["sha256:" + n for n in os.listdir(d) if len(n) == 64]

    # ingests

    def _ingest_dir(self, ref: str) -> str:
        if not ref:
            raise InvalidArgument("ref must not be empty")
        return os.path.join(self.root, "ingest", hashlib.sha256(ref.encode()).hexdigest())

    def _unlock(self, ref: str) -> None:
        with self._mu:
            self._locks.discard(ref)

    def _drop_ingest(self, ref: str, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        self._unlock(ref)

    def writer(self, ref: str, total: int = 0, expected: str = "") -> Writer:
        """Open (or resume) the ingest `ref`; Unavailable while another writer holds it."""
        if expected:
            validate_digest(expected)
        path = self._ingest_dir(ref)
        with self._mu:
            if ref in self._locks:
                raise Unavailable(f"ref {ref} locked: unavailable")
            self._locks.add(ref)
        try:
            if not os.path.isdir(path):
                tmp = path + ".new"
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp, mode=0o700)
                _write_small(os.path.join(tmp, "ref"), ref)
                _write_small(os.path.join(tmp, "startedat"), str(time.time()))
                open(os.path.join(tmp, "data"), "wb").close()
                os.rename(tmp, path)
            w = Writer(self, ref, path)
            if total:
                w.total = total
            if expected:
                w.expected = expected
            return w
        except BaseException:
            self._unlock(ref)
            raise

    def status(self, ref: str) -> IngestStatus:
        path = self._ingest_dir(ref)
        try:
            st = os.stat(os.path.join(path, "data"))
        except FileNotFoundError:
            raise NotFound(f"ingest {ref}: not found") from None
        started = float(_read(os.path.join(path, "startedat"), "0") or 0)
        return IngestStatus(
            ref=ref, offset=st.st_size,
            total=int(_read(os.path.join(path, "total"), "0") or 0),
            expected=_read(os.path.join(path, "expected")),
            started_at=datetime.fromtimestamp(started, UTC),
            updated_at=datetime.fromtimestamp(st.st_mtime, UTC))

    def statuses(self) -> list[IngestStatus]:
        out = []
        base = os.path.join(self.root, "ingest")
        for name in sorted(os.listdir(base)):
            ref = _read(os.path.join(base, name, "ref"))
            if ref and not name.endswith(".new"):
                try:
                    out.append(self.status(ref))
                except NotFound:
                    continue
        return out

    def abort(self, ref: str) -> None:
        """Drop the ingest `ref`; NotFound when there is none."""
        path = self._ingest_dir(ref)
        if not os.path.isdir(path):
            raise NotFound(f"ingest {ref}: not found")
        with self._mu:
            if ref in self._locks:
                raise Unavailable(f"ref {ref} locked: unavailable")
        shutil.rmtree(path, ignore_errors=True)
