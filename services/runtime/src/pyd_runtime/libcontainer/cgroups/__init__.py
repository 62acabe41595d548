"""cgroup managers behind one small interface (runc's libcontainer/cgroups).

``new_manager`` picks v1 or v2 from the host's mounts; ``load_manager`` rebuilds a
manager from the paths saved in a container's state.
"""

from __future__ import annotations

import errno
import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyd_runtime.specconv import Resources

CGROUP_ROOT = "/sys/fs/cgroup"
# Relative cgroupsPath values, and an empty one, live under this parent.
DEFAULT_PARENT = "/pyd"


# Super options of a v1 cgroup mount that are not controller names.
_NOT_CONTROLLERS = frozenset(("rw", "ro", "clone_children", "noprefix", "xattr",
                              "cpuset_v2_mode", "favordynmods"))


class CgroupError(RuntimeError):
    """A cgroup operation failed."""


class Manager:
    """What every cgroup manager offers. ``paths`` maps a controller key to a directory."""

    version = 0

    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths
        self._created: list[str] = []

    def create(self) -> None:
        """Make the container's cgroup directories (and any missing parents)."""
        raise NotImplementedError

    def apply(self, pid: int) -> None:
        """Move ``pid`` (0 = the caller) into every directory of the container."""
        for p in self.paths.values():
            write(os.path.join(p, "cgroup.procs"), str(pid))

    def set(self, res: Resources) -> None:
        """Write resource limits."""
        raise NotImplementedError

    def freeze(self) -> None:
        """Freeze every task (pause)."""
        raise NotImplementedError

    def thaw(self) -> None:
        """Thaw every task (resume)."""
        raise NotImplementedError

    def frozen(self) -> bool:
        """Whether the container's cgroup is frozen (or freezing)."""
        raise NotImplementedError

    def procs_path(self) -> str | None:
        """The cgroup.procs file that lists the container's processes."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        """Every process in the container's cgroup."""
        p = self.procs_path()
        if p is None:
            return []
        try:
            with open(p) as f:
                return [int(x) for x in f.read().split()]
        except FileNotFoundError:
            return []

    def destroy(self, *, all_created: bool = False) -> None:
        """Remove the container's directories; with ``all_created`` also the parents this
        manager made (clean-up after a failed create)."""
        dirs = list(self._created) if all_created else []
        dirs += [p for p in self.paths.values() if p not in dirs]
        dirs.sort(key=lambda d: d.count("/"), reverse=True)
        for d in dirs:
            rmdir(d)


def write(path: str, value: str) -> None:
    """Write a cgroup file; errors name the file and value."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"open {path}: {e.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise CgroupError(f"write {value!r} to {path}: {e.strerror}") from e
    finally:
        os.close(fd)


def read(path: str) -> str:
    """Read a cgroup file, stripped."""
    with open(path) as f:
        return f.read().strip()


def rmdir(path: str) -> None:
    """Remove a cgroup directory, retrying briefly while dying tasks leave it."""
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise CgroupError(f"rmdir {path}: {e.strerror}") from None
            time.sleep(0.01)
    raise CgroupError(f"rmdir {path}: device or resource busy")


def mounts() -> tuple[dict[str, str], str | None]:
    """(v1 hierarchies: key → mount point, the v2 mount point or None).

    The key of a v1 hierarchy is its comma-joined controllers (``cpu,cpuacct``) or
    ``name=systemd`` for a named one.
    """
    v1: dict[str, str] = {}
    v2 = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = post.split()
            pf = pre.split()
            if len(fields) < 3 or len(pf) < 5 or pf[3] != "/":
                continue
            fstype, mp = fields[0], pf[4]
            # Prefer the hierarchies under /sys/fs/cgroup over other mounts of the same
            # one (CRIU, for one, mounts its own copies while it works).
            if fstype == "cgroup2":
                if v2 is None or mp.startswith(CGROUP_ROOT + "/") or mp == CGROUP_ROOT:
                    v2 = mp if v2 is None or not v2.startswith(CGROUP_ROOT) else v2
            elif fstype == "cgroup":
                opts = [o for o in fields[2].split(",")
                        if o.startswith("name=") or ("=" not in o and o not in _NOT_CONTROLLERS)]
                key = ",".join(opts)
                cur = v1.get(key)
                if cur is None or (not cur.startswith(CGROUP_ROOT) and
                                   mp.startswith(CGROUP_ROOT)):
                    v1[key] = mp
    return v1, v2


def foreign_unified_dir(pid: int, manager: Manager) -> str | None:
    """On a hybrid host, the cgroup2 directory `pid` sits in when no manager path covers
    it: CRIU's restore recreates the cgroup the dump saw there (a runc-made container's
    /<id>), which the v1 manager would otherwise never remove."""
    _, v2 = mounts()
    if v2 is None or v2 == CGROUP_ROOT:
        return None
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers and path not in ("", "/"):
            d = v2 + path
            return None if d in manager.paths.values() else d
    return None


def is_unified() -> bool:
    """True when /sys/fs/cgroup itself is cgroup2 (no v1 hierarchies in use)."""
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def resolve_path(cgroups_path: str, container_id: str) -> str:
    """The absolute cgroup path (inside each hierarchy) for a spec's cgroupsPath."""
    if not cgroups_path:
        return os.path.join(DEFAULT_PARENT, container_id)
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        # systemd form slice:prefix:name; --systemd-cgroup is accepted, not implemented:
        # place it as parent/prefix-name under the default parent.
        slice_, prefix, name = ([*cgroups_path.split(":"), "", ""])[:3]
        return os.path.join("/", slice_ or DEFAULT_PARENT.lstrip("/"),
                            f"{prefix}-{name}" if prefix else name)
    if cgroups_path.startswith("/"):
        return os.path.normpath(cgroups_path)
    return os.path.normpath(os.path.join(DEFAULT_PARENT, cgroups_path))


def new_manager(cgroups_path: str, container_id: str) -> Manager:
    """A manager for a new container, v2 on a unified host, else v1."""
    inner = resolve_path(cgroups_path, container_id)
    if is_unified():
        from pyd_runtime.libcontainer.cgroups.v2 import V2Manager

        return V2Manager({"": CGROUP_ROOT + inner})
    from pyd_runtime.libcontainer.cgroups.v1 import V1Manager

    v1, _ = mounts()
    return V1Manager({key: mp + inner for key, mp in v1.items()})


def load_manager(version: int, paths: dict[str, str]) -> Manager:
    """Rebuild the manager saved in a container's state."""
    if version == 2:
        from pyd_runtime.libcontainer.cgroups.v2 import V2Manager

        return V2Manager(paths)
    from pyd_runtime.libcontainer.cgroups.v1 import V1Manager

    return V1Manager(paths)
