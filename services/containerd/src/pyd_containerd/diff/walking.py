"""The walking differ (containerd's diff/walking and diff/apply).

`apply` extracts a layer blob onto a snapshot's mounts: straight into the upper
directory of a single overlay mount (whiteouts become overlay's 0/0 devices, as
upstream's fast path does), straight into the directory of a writable bind, or
else onto a temporary mount. `compare` mounts both sides read-only, walks them
side by side as continuity's `fs.Changes` does (type, mode, owner, size and
mtime; content only when mtimes carry no nanoseconds) and writes the changes as
a layer tar (deletions as `.wh.` whiteouts, parent directories included) into
the content store, gzip'd unless an uncompressed type is asked for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import filecmp
import gzip
import hashlib
import io
import os
import secrets
import stat
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

from pyd_containerd import images as mt
from pyd_containerd import mount as mounts_
from pyd_containerd.images import archive
from pyd_containerd.metadata.content import ContentStore, NamespacedWriter
from pyd_containerd.snapshots import Mount
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, Unimplemented

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
CAPABILITY_XATTR = "security.capability"
_APPLY_TYPES = frozenset(t for t in mt.LAYER_TYPES if not t.endswith("zstd"))
_DIFF_TYPES = {mt.OCI_LAYER: False, mt.OCI_LAYER_GZIP: True}  # → compressed

ADD, MODIFY, DELETE = "add", "modify", "delete"


@dataclass
class Layer:
    """A descriptor as the Diff API carries it."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)


def _syncfs(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).syncfs(fd)
    finally:
        os.close(fd)


def _overlay_dirs(m: Mount) -> tuple[str, str]:
    opts = dict(o.partition("=")[::2] for o in m.options if "=" in o)
    return opts.get("upperdir", ""), opts.get("lowerdir", "")


# --- comparing two trees (continuity's doubleWalkDiff) ---------------------------

def _same(a: str, b: str, sa: os.stat_result, sb: os.stat_result) -> bool:
    if (sa.st_mode, sa.st_uid, sa.st_gid, sa.st_rdev) != (sb.st_mode, sb.st_uid, sb.st_gid,
                                                          sb.st_rdev):
        return False
    if _xattr(a, CAPABILITY_XATTR) != _xattr(b, CAPABILITY_XATTR):
        return False
    if stat.S_ISDIR(sa.st_mode):
        return True
    if sa.st_size != sb.st_size or int(sa.st_mtime) != int(sb.st_mtime):
        return False
    na, nb = sa.st_mtime_ns % 1_000_000_000, sb.st_mtime_ns % 1_000_000_000
    if na == 0 and nb == 0:  # a truncated timestamp on both: look at the content
        if stat.S_ISLNK(sa.st_mode):
            return os.readlink(a) == os.readlink(b)
        if stat.S_ISREG(sa.st_mode) and sa.st_size:
            return filecmp.cmp(a, b, shallow=False)
        return True
    return na == nb


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def changes(lower: str, upper: str, rel: str = "") -> Iterator[tuple[str, str]]:
    """(kind, path relative to the roots) for every change from `lower` to `upper`,
    parents before children, names in order."""
    ldir, udir = os.path.join(lower, rel), os.path.join(upper, rel)
    lnames = set(os.listdir(ldir)) if os.path.isdir(ldir) and not os.path.islink(ldir) else set()
    unames = set(os.listdir(udir))
    for name in sorted(lnames | unames):
        path = os.path.join(rel, name)
        lp, up = os.path.join(lower, path), os.path.join(upper, path)
        if name not in unames:
            yield DELETE, path
            continue
        ust = os.lstat(up)
        if name not in lnames:
            yield ADD, path
            if stat.S_ISDIR(ust.st_mode):
                yield from _added(upper, path)
            continue
        lst = os.lstat(lp)
        if not _same(lp, up, lst, ust):
            yield MODIFY, path
        if stat.S_ISDIR(ust.st_mode):
            if stat.S_ISDIR(lst.st_mode):
                yield from changes(lower, upper, path)
            else:
                yield from _added(upper, path)


def _added(root: str, rel: str) -> Iterator[tuple[str, str]]:
    for name in sorted(os.listdir(os.path.join(root, rel))):
        path = os.path.join(rel, name)
        yield ADD, path
        if stat.S_ISDIR(os.lstat(os.path.join(root, path)).st_mode):
            yield from _added(root, path)


# --- writing a layer tar ----------------------------------------------------------

class _Sink(io.RawIOBase):
    """A write-only stream into a content ingest, hashing what passes (the diff ID
    when it sits below gzip)."""

    def __init__(self, out: IO[bytes] | NamespacedWriter) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(b)
        self.out.write(data)
        self.hash.update(data)
        self.count += len(data)
        return len(data)


def write_tar(out: IO[bytes] | _Sink, upper: str, entries: Iterator[tuple[str, str]],
              epoch: int | None = None) -> None:
    """The changes as a tar stream (PAX, as upstream writes it)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        written: set[str] = set()

        def clamp(t: float) -> float:
            return min(t, epoch) if epoch is not None else t

        def add(rel: str) -> None:
            full = os.path.join(upper, rel)
            info = tf.gettarinfo(full, arcname=rel)
            info.uname = info.gname = ""  # no name lookups, as FileInfoHeaderNoLookups
            info.mtime = clamp(info.mtime)
            cap = _xattr(full, CAPABILITY_XATTR)
            if cap is not None:
                info.pax_headers = {**info.pax_headers, "SCHILY.xattr." + CAPABILITY_XATTR:
                                    cap.decode("utf-8", "surrogateescape")}
            if info.isreg():
                with open(full, "rb") as f:
                    tf.addfile(info, f)
            else:
                tf.addfile(info)
            written.add(rel)

        def parents(rel: str) -> None:
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                if p not in written:
                    add(p)

        for kind, rel in entries:
            parents(rel)
            if kind == DELETE:
                d, base = os.path.split(rel)
                wh = tarfile.TarInfo(os.path.join(d, archive.WHITEOUT_PREFIX + base))
                wh.mode, wh.mtime = 0, 0  # whiteouts carry no time (containerd 2.0)
                tf.addfile(wh)
            else:
                add(rel)


class Differ:
    """Apply and Diff over one content store; temporary mounts go under `root`."""

    def __init__(self, content: ContentStore, root: str) -> None:
        self.content = content
        self.root = root

    def apply(self, ns: str, layer: Layer, mounts: Sequence[Mount],
              sync_fs: bool = False) -> Layer:
        """Extract the blob `layer` onto `mounts`; the uncompressed tar's descriptor."""
        if layer.media_type not in _APPLY_TYPES:
            raise Unimplemented(f"unsupported diff media type: {layer.media_type}")
        if not mounts:
            raise InvalidArgument("apply: no mounts given")
        with self.content.open(ns, layer.digest) as blob:
            upper = _overlay_dirs(mounts[0])[0] if len(mounts) == 1 else ""
            if mounts[0].type == "overlay" and upper:
                digest, size = archive.apply_counted(blob, upper, overlay=True)
                target = upper
            elif len(mounts) == 1 and mounts[0].type == "bind" and \
                    "ro" not in mounts[0].options:
                target = mounts[0].source
                digest, size = archive.apply_counted(blob, target, overlay=False)
            else:
                with mounts_.temp_mount(self.root, mounts) as target:
                    digest, size = archive.apply_counted(blob, target, overlay=False)
                    if sync_fs:
                        _syncfs(target)
                sync_fs = False
        if sync_fs:
            _syncfs(target)
        return Layer(mt.OCI_LAYER, digest, size)

    def compare(self, ns: str, left: Sequence[Mount], right: Sequence[Mount], *,
                media_type: str = "", ref: str = "", labels: dict[str, str] | None = None,
                source_date_epoch: int | None = None) -> Layer:
        """The changes from `left` to `right` as a layer blob in the content store."""
        media_type = media_type or mt.OCI_LAYER_GZIP
        if media_type not in _DIFF_TYPES:
            raise Unimplemented(f"unsupported diff media type: {media_type}")
        compressed = _DIFF_TYPES[media_type]
        ref = ref or f"{time.time_ns()}-{secrets.token_urlsafe(9)}"
        labels = dict(labels or {})
        with mounts_.temp_mount(self.root, left, read_only=True) as lower, \
                mounts_.temp_mount(self.root, right, read_only=True) as upper, \
                self.content.writer(ns, ref) as w:
            w.truncate(0)
            raw = _Sink(w)
            if compressed:
                gz = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6)  # Go's default
                tar_out = _Sink(gz)  # type: ignore[arg-type]
                write_tar(tar_out, upper, changes(lower, upper), source_date_epoch)
                gz.close()
                labels[LABEL_UNCOMPRESSED] = "sha256:" + tar_out.hash.hexdigest()
            else:
                write_tar(raw, upper, changes(lower, upper), source_date_epoch)
            try:
                digest = w.commit(labels=labels)
            except AlreadyExists:  # the same layer is in the namespace already
                digest = w.digest()
        # as upstream: the diff ID rides on the blob's label, not in the answer
        return Layer(media_type, digest, raw.count)
