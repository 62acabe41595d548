"""Applying layer tarballs to a directory (containerd's archive.Apply).

Two modes, as upstream's differ chooses them:

- `overlay=True`: the directory is an overlay upperdir. A `.wh.<name>` entry
  becomes a 0/0 character device (overlay's whiteout) and `.wh..wh..opq`
  sets `trusted.overlay.opaque=y` on its directory, so the lower layers'
  files disappear in the merged view.
- `overlay=False`: the directory holds the whole tree. A whiteout deletes the
  named entry; an opaque marker deletes whatever the directory held that this
  layer did not bring.

Entry paths are resolved inside the root (symlinks included), so a layer
cannot write outside it. The digest of the uncompressed stream (the layer's
diff ID) is returned.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from typing import IO, cast

from pyd_proto.errdefs import InvalidArgument

WHITEOUT_PREFIX = ".wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes what passes through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.hash.update(data)
        self.count += n
        return n

    def digest(self) -> str:
        while chunk := self.inner.read(1 << 20):  # trailing data counts too
            self.hash.update(chunk)
            self.count += len(chunk)
        return "sha256:" + self.hash.hexdigest()


def compression_of(head: bytes) -> str:
    """'gzip', 'zstd', 'bzip2', 'xz' or '' (plain tar), from the first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return ""


def decompressed(f: IO[bytes]) -> IO[bytes]:
    """`f` (seekable, at 0) as an uncompressed stream."""
    head = f.read(6)
    f.seek(0)
    kind = compression_of(head)
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=f, mode="rb"))
    if kind == "bzip2":
        return cast(IO[bytes], bz2.BZ2File(f))
    if kind == "xz":
        return cast(IO[bytes], lzma.LZMAFile(f))
    if kind == "zstd":
        raise InvalidArgument("zstd-compressed layers are not supported")
    return f


def diff_id(f: IO[bytes]) -> str:
    """sha256 of the uncompressed stream of a (possibly compressed) tar."""
    h = _Hashing(decompressed(f))
    try:
        return h.digest()
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise InvalidArgument(f"corrupt layer: {e}") from e


def clean(name: str) -> str:
    """A member name as a relative path; InvalidArgument for `..` escapes."""
    parts: list[str] = []
    for p in name.replace("\\", "/").split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise InvalidArgument(f"layer entry {name!r} escapes the root")
            parts.pop()
            continue
        parts.append(p)
    return "/".join(parts)


def root_path(root: str, rel: str) -> str:
    """`rel` resolved inside `root`: symlinks are followed as if `root` were `/`."""
    todo = [p for p in rel.split("/") if p]
    resolved: list[str] = []
    links = 0
    while todo:
        p = todo.pop(0)
        if p == ".":
            continue
        if p == "..":
            if resolved:
                resolved.pop()
            continue
        full = os.path.join(root, *resolved, p)
        if os.path.islink(full):
            links += 1
            if links > 255:
                raise InvalidArgument(f"too many symlinks resolving {rel!r}")
            target = os.readlink(full)
            if target.startswith("/"):
                resolved = []
            todo = [x for x in target.split("/") if x] + todo
            continue
        resolved.append(p)
    return os.path.join(root, *resolved)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _xattrs(m: tarfile.TarInfo) -> dict[str, bytes]:
    out = {}
    for k, v in m.pax_headers.items():
        if k.startswith("SCHILY.xattr."):
            out[k.removeprefix("SCHILY.xattr.")] = v.encode("utf-8", "surrogateescape")
    return out


def apply(src: IO[bytes], root: str, *, overlay: bool) -> str:
    """Apply the layer in `src` (seekable; gzip, bzip2, xz or plain) to `root`.

    Returns the diff ID; InvalidArgument on a corrupt or malicious archive
    (what was applied before the error stays: the caller drops the snapshot).
    """
    return apply_counted(src, root, overlay=overlay)[0]


def apply_counted(src: IO[bytes], root: str, *, overlay: bool) -> tuple[str, int]:
    """`apply`, also returning the size of the uncompressed tar (the Diff service's
    answer describes it)."""
    h = _Hashing(decompressed(src))
    is_root = os.geteuid() == 0
    unpacked: set[str] = set()
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    try:
        with tarfile.open(fileobj=h, mode="r|") as tf:  # type: ignore[call-overload]
            for m in tf:
                _apply_one(tf, m, root, overlay, is_root, unpacked, dirs)
        digest = h.digest()
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as e:
        raise InvalidArgument(f"corrupt layer: {e}") from e
    for path, m in reversed(dirs):
        try:
            os.utime(path, (m.mtime, m.mtime))
        except OSError:
            pass
    return digest, h.count


def _apply_one(tf: tarfile.TarFile, m: tarfile.TarInfo, root: str, overlay: bool,
               is_root: bool, unpacked: set[str], dirs: list[tuple[str, tarfile.TarInfo]]) -> None:
    name = clean(m.name)
    if not name:
        return
    rel_dir, base = os.path.split(name)
    parent = root_path(root, rel_dir)
    if not os.path.isdir(parent):
        if os.path.lexists(parent):
            _remove(parent)
        os.makedirs(parent, mode=0o755, exist_ok=True)
    if base == WHITEOUT_OPAQUE:
        if overlay:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
        else:
            for child in os.listdir(parent):
                p = os.path.join(parent, child)
                if p not in unpacked:
                    _remove(p)
        return
    if base.startswith(WHITEOUT_PREFIX):
        orig = os.path.join(parent, base.removeprefix(WHITEOUT_PREFIX))
        _remove(orig)
        if overlay:
            os.mknod(orig, stat.S_IFCHR | 0o000, 0)
            if is_root:
                os.lchown(orig, m.uid, m.gid)
        return
    target = os.path.join(parent, base)
    if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target)
                                        and not os.path.islink(target)):
        _remove(target)
    if m.isdir():
        if not os.path.isdir(target):
            os.mkdir(target, 0o755)
        dirs.append((target, m))
    elif m.isreg():
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            data = tf.extractfile(m)
            if data is not None:
                shutil.copyfileobj(data, out, 1 << 20)
    elif m.issym():
        os.symlink(m.linkname, target)
    elif m.islnk():
        lname = clean(m.linkname)
        ldir, lbase = os.path.split(lname)
        source = os.path.join(root_path(root, ldir), lbase)
        if not os.path.lexists(source):
            raise InvalidArgument(f"hard link {name!r} to missing {m.linkname!r}")
        os.link(source, target, follow_symlinks=False)
        unpacked.add(target)
        return
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(target, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
    elif m.isfifo():
        os.mkfifo(target, m.mode & 0o7777)
    else:
        return  # unknown kinds (sparse-only headers etc.) carry nothing to apply
    unpacked.add(target)
    if is_root:
        os.lchown(target, m.uid, m.gid)
    for k, v in _xattrs(m).items():
        try:
            os.setxattr(target, k, v, follow_symlinks=False)
        except OSError:
            pass
    if not m.issym():
        os.chmod(target, m.mode & 0o7777)
        if not m.isdir():
            os.utime(target, (m.mtime, m.mtime))
    else:
        try:
            os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)
        except OSError:
            pass
