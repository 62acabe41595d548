"""`docker export` (moby daemon/export.go): the container's root filesystem — its
image layers with its read-write layer on top — as one uncompressed tar, without
what is mounted over it at run time (/proc, /sys, volumes, the /etc files).

The layers are mounted read-only in a private place (overlayfs with the read-write
layer as the topmost lower directory, no upper): a running container's own mount
keeps its upper and work directories, which overlayfs lets only one mount use."""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pyd_proto.errdefs import FailedPrecondition

if TYPE_CHECKING:
    from pyd_dockerd.container.container import Container
    from pyd_dockerd.daemon.daemon import Daemon

CHUNK = 1 << 20


def lower_dirs(options: list[str]) -> list[str]:
    """The layers of an overlay mount, topmost first (upperdir, then lowerdir's)."""
    upper = [o.split("=", 1)[1] for o in options if o.startswith("upperdir=")]
    lower = [o.split("=", 1)[1] for o in options if o.startswith("lowerdir=")]
    return upper + (lower[0].split(":") if lower else [])


@contextlib.contextmanager
def readonly_rootfs(d: Daemon, c: Container) -> Iterator[str]:
    """A private, read-only view of the container's filesystem, unmounted after."""
    from pyd_runtime.libcontainer import syscalls

    mounts = d.containerd.snapshot_mounts(c.id)
    if not mounts:
        raise FailedPrecondition(f"container {c.id} has no root filesystem")
    target = tempfile.mkdtemp(prefix="pyd-export-")
    mounted = False
    try:
        m = mounts[0]
        if m.type == "bind":
            syscalls.mount(m.source, target, None, syscalls.MS_BIND | syscalls.MS_REC)
            syscalls.mount("", target, None,
                           syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY)
        else:
            layers = lower_dirs(list(m.options))
            if len(layers) == 1:  # overlayfs needs two lower directories without upper
                syscalls.mount(layers[0], target, None, syscalls.MS_BIND)
            else:
                syscalls.mount("overlay", target, "overlay", syscalls.MS_RDONLY,
                               "lowerdir=" + ":".join(layers))
        mounted = True
        yield target
    finally:
        if mounted:
            with contextlib.suppress(OSError):
                syscalls.umount2(target, 2)  # MNT_DETACH
        shutil.rmtree(target, ignore_errors=True)


def tar_tree(root: str) -> Iterator[bytes]:
    """Every entry under `root`, named relative to it, as a tar stream in chunks."""
    r, w = os.pipe()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with os.fdopen(w, "wb") as f, tarfile.open(fileobj=f, mode="w|",
                                                       format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(os.listdir(root)):
                    tar.add(os.path.join(root, name), arcname=name)
        except BaseException as e:  # reported to the reader after the stream ends
            failure.append(e)

    t = threading.Thread(target=write, daemon=True, name="export-tar")
    t.start()
    with os.fdopen(r, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    t.join()
    if failure:
        raise failure[0]


def export(d: Daemon, ref: str) -> Iterator[bytes]:
    """The tar of container `ref`'s filesystem, in chunks."""
    c = d.containers.get(ref)
    with readonly_rootfs(d, c) as root:
        yield from tar_tree(root)
    d.events.emit("container", "export", c.id, {"name": c.name})
