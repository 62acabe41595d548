"""cgroup v1: one directory per hierarchy (cpu, memory, pids, freezer ...)."""

from __future__ import annotations

import errno
import os
import time

from pyd_runtime.libcontainer.cgroups import CgroupError, Manager, read, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyd_runtime.specconv import Resources


def _has(key: str, controller: str) -> bool:
    return controller in key.split(",")


class V1Manager(Manager):
    """Paths keyed by hierarchy (``memory``, ``cpu,cpuacct``, ``name=systemd``)."""

    version = 1

    def _path(self, controller: str) -> str | None:
        for key, p in self.paths.items():
            if _has(key, controller):
                return p
        return None

    def apply(self, pid: int) -> None:
        """Move ``pid`` into every hierarchy. ``pid`` 0 (the caller, which must be single
        threaded: a freshly forked child is) goes through ``tasks``: moving the current
        thread skips the kernel's global threadgroup lock, whose RCU grace period costs
        10-20 ms per container start on cgroup.procs."""
        if pid == 0 and len(os.listdir("/proc/self/task")) == 1:
            for p in self.paths.values():
                write(os.path.join(p, "tasks"), "0")
            return
        super().apply(pid)

    def create(self) -> None:
        """mkdir -p each path, seeding cpuset.cpus/mems on new cpuset levels (v1 requires
        them before a task may join)."""
        for key, path in self.paths.items():
            missing = []
            d = path
            while not os.path.isdir(d):
                missing.append(d)
                d = os.path.dirname(d)
            for m in reversed(missing):
                try:
                    os.mkdir(m, 0o755)
                except FileExistsError:
                    continue
                except OSError as e:
                    raise CgroupError(f"mkdir {m}: {e.strerror}") from None
                self._created.append(m)
                if _has(key, "cpuset"):
                    parent = os.path.dirname(m)
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        if not read(os.path.join(m, f)):
                            write(os.path.join(m, f), read(os.path.join(parent, f)))

    def set(self, res: Resources) -> None:
        """Write every limit given in ``res``."""
        mem = self._path("memory")
        if mem:
            if res.memory_limit is not None or res.memory_swap is not None:
                self._set_memory(mem, res.memory_limit, res.memory_swap)
            if res.memory_reservation is not None:
                write(os.path.join(mem, "memory.soft_limit_in_bytes"),
                      str(res.memory_reservation))
        cpu = self._path("cpu")
        if cpu:
            if res.cpu_shares:
                write(os.path.join(cpu, "cpu.shares"), str(res.cpu_shares))
            if res.cpu_period:
                write(os.path.join(cpu, "cpu.cfs_period_us"), str(res.cpu_period))
            if res.cpu_quota:
                write(os.path.join(cpu, "cpu.cfs_quota_us"), str(res.cpu_quota))
        cs = self._path("cpuset")
        if cs:
            if res.cpuset_cpus:
                write(os.path.join(cs, "cpuset.cpus"), res.cpuset_cpus)
            if res.cpuset_mems:
                write(os.path.join(cs, "cpuset.mems"), res.cpuset_mems)
        pids = self._path("pids")
        if pids and res.pids_limit:
            write(os.path.join(pids, "pids.max"),
                  str(res.pids_limit) if res.pids_limit > 0 else "max")
        dev = self._path("devices")
        if dev and res.devices:
            for allow, t, major, minor, access in res.devices:
                rule = f"{t} {'*' if major < 0 else major}:{'*' if minor < 0 else minor} {access}"
                if t == "a":
                    rule = "a"
                write(os.path.join(dev, "devices.allow" if allow else "devices.deny"), rule)

    @staticmethod
    def _set_memory(mem: str, limit: int | None, swap: int | None) -> None:
        lim = os.path.join(mem, "memory.limit_in_bytes")
        sw = os.path.join(mem, "memory.memsw.limit_in_bytes")
        has_sw = os.path.exists(sw)
        if swap is not None and not has_sw and swap != -1 and swap != limit:
            raise CgroupError("memory swap limit given, but swap accounting is disabled")
        # The kernel wants limit <= memsw at every moment: raise memsw first when growing.
        order: list[tuple[str, int]] = []
        if limit is not None:
            order.append((lim, limit))
        if swap is not None and has_sw:
            order.append((sw, swap))
        try:
            for path, v in order:
                write(path, str(v))
        except CgroupError as e:
            if not has_sw or not isinstance(e.__cause__, OSError) or \
                    e.__cause__.errno != errno.EINVAL:
                raise
            for path, v in reversed(order):
                write(path, str(v))

    def freeze(self) -> None:
        """FROZEN, waiting until the kernel reports it."""
        self._freezer("FROZEN")

    def thaw(self) -> None:
        """THAWED."""
        self._freezer("THAWED")

    def _freezer(self, state: str) -> None:
        f = self._path("freezer")
        if f is None:
            raise CgroupError("the freezer cgroup is not mounted")
        path = os.path.join(f, "freezer.state")
        for _ in range(1000):
            write(path, state)
            if read(path) == state:
                return
            time.sleep(0.001)
        raise CgroupError(f"unable to set freezer state to {state}")

    def frozen(self) -> bool:
        """True when the freezer says FROZEN or FREEZING."""
        f = self._path("freezer")
        if f is None:
            return False
        try:
            return read(os.path.join(f, "freezer.state")) != "THAWED"
        except OSError:
            return False

    def procs_path(self) -> str | None:
        """cgroup.procs in the pids (or devices, freezer, memory) hierarchy."""
        for c in ("pids", "devices", "freezer", "memory", "cpu"):
            p = self._path(c)
            if p:
                return os.path.join(p, "cgroup.procs")
        for p in self.paths.values():
            return os.path.join(p, "cgroup.procs")
        return None
