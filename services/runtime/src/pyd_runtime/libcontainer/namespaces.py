"""Creating and joining namespaces (runc's nsexec, minus the C)."""

from __future__ import annotations

import os

from pyd_runtime.libcontainer import syscalls as sc
from pyd_runtime.specconv import NAMESPACE_FILES, NAMESPACE_FLAGS

# setns order: the user namespace first (it grants the rights for the rest), the
# mount namespace last (joining it changes how later paths resolve).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def unshare_flags(namespaces: list[tuple[str, str]], *, skip_user: bool = True) -> int:
    """clone flags for every namespace the spec wants new (no path)."""
    flags = 0
    for t, p in namespaces:
        if not p and not (skip_user and t == "user"):
            flags |= NAMESPACE_FLAGS[t]
    return flags


def open_paths(paths: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """Open every namespace file up front, in join order."""
    order = {t: i for i, t in enumerate(JOIN_ORDER)}
    out = []
    for t, p in sorted(paths, key=lambda tp: order[tp[0]]):
        try:
            out.append((t, os.open(p, os.O_RDONLY | os.O_CLOEXEC)))
        except OSError as e:
            raise OSError(e.errno, f"open namespace {t} {p}: {e.strerror}") from None
    return out


def join(fds: list[tuple[str, int]]) -> None:
    """setns into each opened namespace, closing the files."""
    for t, fd in fds:
        try:
            sc.setns(fd, NAMESPACE_FLAGS[t])
        except OSError as e:
            raise OSError(e.errno, f"setns {t}: {e.strerror}") from None
        finally:
            os.close(fd)


def container_paths(pid: int, kinds: list[str]) -> list[tuple[str, str]]:
    """/proc/PID/ns paths of a running container's namespaces that differ from ours."""
    out = []
    for t in kinds:
        f = NAMESPACE_FILES[t]
        p = f"/proc/{pid}/ns/{f}"
        try:
            if os.stat(p).st_ino == os.stat(f"/proc/self/ns/{f}").st_ino:
                continue
        except OSError:
            continue
        out.append((t, p))
    return out


def write_id_maps(pid: int, uid_maps: list[tuple[int, int, int]],
                  gid_maps: list[tuple[int, int, int]]) -> None:
    """Write /proc/PID/{uid,gid}_map for a child that made a user namespace."""
    for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
        data = "".join(f"{c} {h} {s}\n" for c, h, s in maps)
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
        try:
            os.write(fd, data.encode())
        except OSError as e:
            raise OSError(e.errno, f"write {name}: {e.strerror}") from None
        finally:
            os.close(fd)
