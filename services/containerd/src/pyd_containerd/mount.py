"""Mounting what a snapshotter describes (containerd's mount package), through mount(2).

`temp_mount` mounts a list of `Mount`s on a fresh directory under `<root>/tmpmounts`
and unmounts it afterwards (upstream's `mount.WithTempMount`); `readonly=True`
is `WithReadonlyTempMount`: binds get `ro`, and an overlay's upperdir becomes the
top lowerdir, so nothing is written and no workdir is needed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import tempfile
from collections.abc import Iterator, Sequence

from pyd_containerd.snapshots import Mount
from pyd_proto.errdefs import FailedPrecondition

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MNT_DETACH = 0x2

# option → (flags to set, clear instead of set), as upstream's parseMountOptions
_FLAGS: dict[str, tuple[int, bool]] = {
    "ro": (MS_RDONLY, False), "rw": (MS_RDONLY, True),
    "bind": (MS_BIND, False), "rbind": (MS_BIND | MS_REC, False),
    "nosuid": (MS_NOSUID, False), "suid": (MS_NOSUID, True),
    "nodev": (MS_NODEV, False), "dev": (MS_NODEV, True),
    "noexec": (MS_NOEXEC, False), "exec": (MS_NOEXEC, True),
    "noatime": (MS_NOATIME, False), "nodiratime": (MS_NODIRATIME, False),
    "remount": (MS_REMOUNT, False),
}

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def parse_options(options: Sequence[str]) -> tuple[int, str]:
    """mount(2) flags and the data string (what is not a flag)."""
    flags = 0
    data: list[str] = []
    for o in options:
        if o in _FLAGS:
            bit, clear = _FLAGS[o]
            flags = flags & ~bit if clear else flags | bit
        else:
            data.append(o)
    return flags, ",".join(data)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), flags,
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise FailedPrecondition(f"mount {fstype} {source} on {target}: {os.strerror(err)}")


def mount(m: Mount, target: str) -> None:
    """One mount(2) (a read-only bind is a bind, then a read-only remount)."""
    flags, data = parse_options(m.options)
    if m.type == "bind" or flags & MS_BIND:
        _mount(m.source, target, "none", flags & ~MS_RDONLY, data)
        if flags & MS_RDONLY:
            _mount("", target, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, "")
        return
    _mount(m.source, target, m.type, flags, data)


def unmount(target: str) -> None:
    if _libc.umount2(target.encode(), 0) != 0:
        err = ctypes.get_errno()
        if _libc.umount2(target.encode(), MNT_DETACH) != 0:  # busy: detach it
            raise FailedPrecondition(f"unmount {target}: {os.strerror(err)}")


def readonly(mounts: Sequence[Mount]) -> list[Mount]:
    """The mounts made read-only (upstream's readonly overlay: upper on top of lower)."""
    out: list[Mount] = []
    for m in mounts:
        if m.type == "overlay":
            opts = {o.partition("=")[0]: o.partition("=")[2] for o in m.options if "=" in o}
            lower = ":".join(x for x in (opts.get("upperdir", ""), opts.get("lowerdir", ""))
                             if x)
            keep = [o for o in m.options if o.partition("=")[0]
                    not in ("upperdir", "workdir", "lowerdir", "rw", "ro")]
            out.append(Mount("overlay", m.source, [*keep, f"lowerdir={lower}", "ro"], m.target))
        else:
            out.append(Mount(m.type, m.source, [*(o for o in m.options if o != "rw"), "ro"],
                             m.target))
    return out


@contextlib.contextmanager
def temp_mount(root: str, mounts: Sequence[Mount], *, read_only: bool = False
               ) -> Iterator[str]:
    """The mounts stacked on a new directory under `<root>/tmpmounts`, for the block."""
    base = os.path.join(root, "tmpmounts")
    os.makedirs(base, mode=0o700, exist_ok=True)
    target = tempfile.mkdtemp(prefix="containerd-mount", dir=base)
    done: list[str] = []
    try:
        for m in readonly(mounts) if read_only else mounts:
            mount(m, target)
            done.append(target)
        yield target
    finally:
        for t in reversed(done):
            unmount(t)
        os.rmdir(target)
