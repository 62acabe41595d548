"""Finding and removing what a test left on the host: processes, mounts, cgroups,
network namespaces. Used by the stack fixture, pass or fail."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)
MNT_DETACH = 2
CLONE_NEWNET = 0x40000000
CGROUP_ROOT = "/sys/fs/cgroup"


def setns(path: str, nstype: int = 0) -> None:
    """Join the namespace at `path` (os.setns arrived only in Python 3.12)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def pids_mentioning(paths: Iterable[str]) -> set[int]:
    """Processes whose command line names one of `paths` (daemons, shims, runtimes)."""
    needles = [p for p in paths if p]
    me = os.getpid()
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            cmd = _cmdline(int(entry))
            if any(n in cmd for n in needles):
                out.add(int(entry))
    return out


def pids_in_netns(netns_path: str) -> set[int]:
    try:
        ino = os.stat(netns_path).st_ino
    except OSError:
        return set()
    return {int(e) for e in os.listdir("/proc")
            if e.isdigit() and int(e) != os.getpid() and _ns_inode(e, "net") == ino}


def cgroup_dirs(parent: str) -> list[str]:
    """Every directory named `parent` (relative) in each mounted hierarchy, existing ones."""
    out = []
    for hierarchy in sorted(os.listdir(CGROUP_ROOT)):
        d = os.path.join(CGROUP_ROOT, hierarchy, parent.strip("/"))
        if os.path.isdir(d):
            out.append(d)
    v2 = os.path.join(CGROUP_ROOT, parent.strip("/"))
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")) and os.path.isdir(v2):
        out.append(v2)
    return out


def pids_in_cgroups(parent: str) -> set[int]:
    out: set[int] = set()
    for top in cgroup_dirs(parent):
        for dirpath, _dirs, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                    out.update(int(x) for x in f.read().split())
    return out


def kill_all(pids: set[int], timeout: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") and
                                              not _is_zombie(p) for p in pids):
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def mounts_under(paths: Iterable[str]) -> list[str]:
    """Mount points at or below any of `paths`, deepest first."""
    roots = [os.path.realpath(p).rstrip("/") for p in paths if p]
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if any(point == r or point.startswith(r + "/") for r in roots):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(points: list[str]) -> None:
    for point in points:
        _libc.umount2(point.encode(), MNT_DETACH)


def remove_cgroups(parent: str) -> None:
    """rmdir every cgroup under `parent`, children first (a cgroup dir holds no files
    one can delete: rmdir of the empty tree is the way)."""
    for top in cgroup_dirs(parent):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
