"""A container's saved state and its status (runc's container_linux.go, state part).

On disk, under the runtime root (``--root``, default /run/pyd/runc)::

    <root>/<id>/state.json   the State below, rewritten atomically (tmp + rename)
    <root>/<id>/exec.fifo    exists from create until start: the init process blocks
                             opening it for writing; start opens it for reading

Status (runc's rules): no live init process (or one whose start time differs from the
saved one: the pid was reused, or a zombie) → stopped; cgroup frozen → paused;
exec.fifo present → created; otherwise running.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from pyd_runtime import fastjson
from pyd_runtime.libcontainer import cgroups
from pyd_runtime.signals import SIGKILL

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
STATE_VERSION = 1

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


class ContainerError(Exception):
    """An operation on a container failed; the message is what runc would print."""


class NotExist(ContainerError):
    """No container with this id."""

    def __init__(self, msg: str = "container does not exist") -> None:
        super().__init__(msg)


class AlreadyExists(ContainerError):
    """The id is taken."""

    def __init__(self, msg: str = "container with given ID already exists") -> None:
        super().__init__(msg)


class InvalidState(ContainerError):
    """The container's status does not allow the operation."""


def validate_id(container_id: str) -> None:
    """runc's rule: letters, digits and ``_+-.``, not ``.`` or ``..``."""
    if not container_id or container_id in (".", "..") or \
            not set(container_id) <= _ID_CHARS:
        raise ContainerError("invalid container ID format")


def proc_start_time(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); starttime is field 22.
    return int(fields[19]), fields[0].decode()


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    f = f"{frac:09d}".rstrip("0")
    return f"{base}.{f}Z" if f else f"{base}Z"


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temporary file and rename."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


class Container:
    """A container known to the runtime: its directory and the contents of state.json.

    State keys (``self.state``), kept stable for other tools (the checkpoint code):
    ``version``, ``id``, ``ociVersion``, ``bundle``, ``rootfs``, ``created`` (RFC3339Nano),
    ``init_process_pid``, ``init_process_start`` (clock ticks, /proc/PID/stat field 22),
    ``cgroup_version`` (1|2), ``cgroup_paths`` (controller key → directory),
    ``namespace_paths`` (type → path the container's namespaces can be joined by),
    ``external_descriptors`` (readlink of the init's fds 0-2), ``annotations``,
    ``config`` (the bundle's config.json as decoded), ``no_pivot``, ``owner``.
    """

    def __init__(self, root: str, container_id: str, state: dict[str, Any]) -> None:
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.state = state

    # -- loading / saving ----------------------------------------------------------
    @classmethod
    def load(cls, root: str, container_id: str) -> Container:
        """Read ``root/id/state.json``; NotExist when there is none."""
        validate_id(container_id)
        try:
            with open(os.path.join(root, container_id, STATE_FILE), "rb") as f:
                state = fastjson.loads(f.read())
        except FileNotFoundError:
            raise NotExist() from None
        except ValueError as e:
            raise ContainerError(f"corrupt state for {container_id}: {e}") from None
        return cls(root, container_id, state)

    @classmethod
    def make_dir(cls, root: str, container_id: str) -> str:
        """Create ``root/id`` (and root, mode 0700); AlreadyExists when taken."""
        validate_id(container_id)
        os.makedirs(root, 0o700, exist_ok=True)
        d = os.path.join(root, container_id)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise AlreadyExists() from None
        return d

    def save(self) -> None:
        """Rewrite state.json atomically."""
        write_atomic(os.path.join(self.dir, STATE_FILE),
                     fastjson.dumps(self.state).encode())

    @property
    def fifo_path(self) -> str:
        """Where the exec fifo lives while the container is created."""
        return os.path.join(self.dir, EXEC_FIFO)

    @property
    def pid(self) -> int:
        """The init process's pid on the host (0 if none)."""
        return int(self.state.get("init_process_pid") or 0)

    def cgroup_manager(self) -> cgroups.Manager:
        """The cgroup manager for the saved paths."""
        return cgroups.load_manager(int(self.state.get("cgroup_version", 1)),
                                    dict(self.state.get("cgroup_paths") or {}))

    # -- status --------------------------------------------------------------------
    def init_alive(self) -> bool:
        """Whether the saved init process still runs (same pid *and* start time)."""
        pid = self.pid
        if pid <= 0:
            return False
        st = proc_start_time(pid)
        if st is None:
            return False
        start, letter = st
        return start == self.state.get("init_process_start") and letter not in ("Z", "X")

    def status(self) -> str:
        """created | running | paused | stopped, by runc's rules."""
        if not self.init_alive():
            return STOPPED
        if self.state.get("cgroup_paths") and self.cgroup_manager().frozen():
            return PAUSED
        if os.path.exists(self.fifo_path):
            return CREATED
        return RUNNING

    def oci_state(self) -> dict[str, Any]:
        """The ``state`` command's JSON, with runc's keys in runc's order."""
        status = self.status()
        out: dict[str, Any] = {
            "ociVersion": self.state.get("ociVersion", ""),
            "id": self.id,
            "pid": 0 if status == STOPPED else self.pid,
            "status": status,
            "bundle": self.state.get("bundle", ""),
            "rootfs": self.state.get("rootfs", ""),
            "created": self.state.get("created", ""),
            "owner": self.state.get("owner", ""),
        }
        if self.state.get("annotations"):
            out["annotations"] = self.state["annotations"]
        return out

    # -- operations ----------------------------------------------------------------
    def signal(self, sig: int, *, all_procs: bool = False) -> None:
        """Send ``sig`` to init (or, with ``all_procs``, every process in the cgroup)."""
        status = self.status()
        if status == STOPPED:
            raise InvalidState("container not running")
        if all_procs:
            mgr = self.cgroup_manager()
            pids = mgr.pids()
            paused = status == PAUSED
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            if paused and sig == SIGKILL:
                # Frozen tasks only die once thawed.
                mgr.thaw()
            return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            raise InvalidState("container not running") from None

    def wait_stopped(self, timeout: float = 10.0) -> bool:
        """Poll until init is gone (or a zombie); True if it stopped in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.init_alive():
                return True
            time.sleep(0.005)
        return False

    def destroy(self) -> None:
        """Kill what is left, remove the cgroups and the state directory."""
        mgr = self.cgroup_manager() if self.state.get("cgroup_paths") else None
        if self.init_alive():
            try:
                os.kill(self.pid, SIGKILL)
            except ProcessLookupError:
                pass
            self.wait_stopped()
        if mgr is not None:
            if mgr.frozen():
                mgr.thaw()
            # Without a pid namespace of its own, processes may outlive init.
            for _ in range(100):
                pids = mgr.pids()
                if not pids:
                    break
                for p in pids:
                    try:
                        os.kill(p, SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.01)
            mgr.destroy()
        foreign = self.state.get("cgroup_foreign_dir")
        if foreign:  # what CRIU's restore recreated outside the manager's paths
            with contextlib.suppress(OSError):
                os.rmdir(foreign)
        remove_state_dir(self.dir)
        spec_hooks = (self.state.get("config") or {}).get("hooks")
        if spec_hooks and spec_hooks.get("poststop"):
            from pyd_runtime import log
            from pyd_runtime.libcontainer import hooks
            from pyd_runtime.specconv import parse_hooks

            st = self.oci_state()
            try:
                hooks.run(parse_hooks(spec_hooks).get("poststop", []), st)
            except hooks.HookError as e:
                log.warning(str(e))


def remove_state_dir(d: str) -> None:
    """Remove a container's state directory: its files, and empty subdirectories."""
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return
    for n in names:
        p = os.path.join(d, n)
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            # Never rm -r: a directory here may be a mount point (CRIU's restore root).
            os.rmdir(p)
    try:
        os.rmdir(d)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def list_ids(root: str) -> list[str]:
    """Ids of every container directory under ``root`` (sorted, like runc's ReadDir)."""
    try:
        return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))
    except FileNotFoundError:
        return []
