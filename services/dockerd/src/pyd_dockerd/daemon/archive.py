"""`docker cp` (moby daemon/archive.go): stat a path in a container, stream it out as a
tar, or extract a tar into it. A running container is reached through its own root
(/proc/PID/root); a stopped one through its rootfs snapshot mounted for the copy. Paths
resolve inside the container (symlinks as if its root were `/`)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

from pyd_proto.errdefs import InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.container.container import Container
    from pyd_dockerd.daemon.daemon import Daemon

CHUNK = 1 << 20


@dataclass
class PathStat:
    name: str
    size: int
    mode: int
    mtime: datetime
    link_target: str


@contextlib.contextmanager
def container_root(d: Daemon, c: Container) -> Iterator[str]:
    """A host path showing the container's root filesystem."""
    if c.state.running and c.state.pid:
        yield f"/proc/{c.state.pid}/root"
        return
    from pyd_runtime.libcontainer import syscalls

    mounts = d.containerd.snapshot_mounts(c.id)
    target = tempfile.mkdtemp(prefix="pyd-cp-")
    try:
        for m in mounts:
            opts = ",".join(o for o in m.options if o not in ("rbind", "bind", "ro", "rw"))
            if m.type == "bind":
                syscalls.mount(m.source, target, None, syscalls.MS_BIND | syscalls.MS_REC)
            else:
                syscalls.mount(m.source or "overlay", target, m.type, 0, opts)
        yield target
    finally:
        with contextlib.suppress(OSError):
            syscalls.umount2(target, 2)  # MNT_DETACH
        shutil.rmtree(target, ignore_errors=True)


def _resolve(root: str, path: str, *, follow: bool = False) -> str:
    from pyd_runtime.libcontainer.rootfs import secure_join

    if not path:
        raise InvalidArgument("a path is needed")
    parent, base = os.path.split(os.path.normpath("/" + path))
    full = os.path.join(secure_join(root, parent), base) if base else secure_join(root, "/")
    if follow and os.path.islink(full):
        full = secure_join(root, os.path.join(parent, base))
    return full


def go_file_mode(mode: int) -> int:
    """A Unix st_mode as Go's os.FileMode, the encoding Docker's path stat uses."""
    out = mode & 0o777
    kinds = {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFIFO: 1 << 25,
             stat.S_IFSOCK: 1 << 24, stat.S_IFBLK: 1 << 26, stat.S_IFCHR: (1 << 26) | (1 << 21)}
    out |= kinds.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        out |= 1 << 23
    if mode & stat.S_ISGID:
        out |= 1 << 22
    if mode & stat.S_ISVTX:
        out |= 1 << 20
    return out


def stat_path(root: str, path: str) -> PathStat:
    full = _resolve(root, path)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    link = os.readlink(full) if stat.S_ISLNK(st.st_mode) else ""
    return PathStat(os.path.basename(os.path.normpath(path)) or "/", st.st_size,
                    go_file_mode(st.st_mode), datetime.fromtimestamp(st.st_mtime, UTC), link)


def tar_out(root: str, path: str) -> Iterator[bytes]:
    """A tar of `path` (named by its basename), in chunks."""
    full = _resolve(root, path)
    if not os.path.lexists(full):
        raise NotFound(f"Could not find the file {path} in container")
    r, w = os.pipe()
    import threading

    def write() -> None:
        with os.fdopen(w, "wb") as f, tarfile.open(fileobj=f, mode="w|",
                                                   format=tarfile.PAX_FORMAT) as tar:
            tar.add(full, arcname=os.path.basename(os.path.normpath(path)) or ".")

    t = threading.Thread(target=write, daemon=True)
    t.start()
    with os.fdopen(r, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    t.join()


def tar_in(root: str, path: str, stream: io.RawIOBase | IO[bytes]) -> None:
    """Extract the tar on `stream` into the directory `path` of the container."""
    full = _resolve(root, path, follow=True)
    if not os.path.isdir(full):
        raise NotFound(f"Could not find the file {path} in container") if not \
            os.path.lexists(full) else InvalidArgument(f"extraction point is not a "
                                                       f"directory: {path}")
    inside = "/" + os.path.relpath(full, root)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            name = os.path.normpath(member.name)
            if name.startswith(("/", "..")):
                raise InvalidArgument(f"invalid path in archive: {member.name}")
            # Every path resolves inside the container, as moby's chrooted extraction does:
            # a symlink an earlier member (or the container) made must not lead the write
            # to the host. The member is renamed to its resolved place under `root`.
            dest = _resolve(root, os.path.join(inside, name))
            if member.isdir():
                if os.path.islink(dest) or (os.path.lexists(dest) and not os.path.isdir(dest)):
                    os.unlink(dest)
                os.makedirs(dest, exist_ok=True)
                continue
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            elif os.path.lexists(dest):
                os.unlink(dest)  # replaced, never written through (moby removes it too)
            member.name = os.path.relpath(dest, root)
            if member.islnk():
                target = _resolve(root, os.path.join(inside, os.path.normpath(member.linkname)))
                if not os.path.lexists(target):
                    raise InvalidArgument(f"invalid hardlink in archive: {member.name} -> "
                                          f"{member.linkname}: no such file in container")
                member.linkname = os.path.relpath(target, root)
            tar.extract(member, root, filter="fully_trusted")
