"""cgroup v2: one directory in the unified hierarchy."""

from __future__ import annotations

import os
import time

from pyd_runtime.libcontainer.cgroups import CgroupError, Manager, read, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyd_runtime.specconv import Resources

_WANTED = ("cpu", "cpuset", "memory", "pids", "io")


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] → v2 cpu.weight [1, 10000] (runc's formula)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


class V2Manager(Manager):
    """``paths`` has one entry, key ``""``."""

    version = 2

    @property
    def path(self) -> str:
        """The container's directory."""
        return self.paths[""]

    def create(self) -> None:
        """mkdir -p, enabling the wanted controllers in every ancestor's subtree_control."""
        d = self.path
        missing = []
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for m in reversed(missing):
            self._enable(os.path.dirname(m))
            try:
                os.mkdir(m, 0o755)
            except FileExistsError:
                continue
            except OSError as e:
                raise CgroupError(f"mkdir {m}: {e.strerror}") from None
            self._created.append(m)

    @staticmethod
    def _enable(parent: str) -> None:
        try:
            avail = read(os.path.join(parent, "cgroup.controllers")).split()
            on = read(os.path.join(parent, "cgroup.subtree_control")).split()
        except OSError:
            return
        add = [c for c in _WANTED if c in avail and c not in on]
        if add:
            try:
                write(os.path.join(parent, "cgroup.subtree_control"),
                      " ".join("+" + c for c in add))
            except CgroupError:
                # A parent holding processes cannot delegate (no internal processes rule).
                pass

    def set(self, res: Resources) -> None:
        """Write every limit given in ``res`` in v2 terms."""
        p = self.path
        if res.memory_limit is not None:
            write(os.path.join(p, "memory.max"),
                  "max" if res.memory_limit < 0 else str(res.memory_limit))
        if res.memory_swap is not None:
            if res.memory_swap < 0:
                v = "max"
            elif res.memory_limit is not None and res.memory_limit > 0:
                v = str(max(0, res.memory_swap - res.memory_limit))
            else:
                v = str(res.memory_swap)
            if os.path.exists(os.path.join(p, "memory.swap.max")):
                write(os.path.join(p, "memory.swap.max"), v)
        if res.memory_reservation is not None:
            write(os.path.join(p, "memory.low"), str(res.memory_reservation))
        if res.cpu_shares:
            write(os.path.join(p, "cpu.weight"), str(shares_to_weight(res.cpu_shares)))
        if res.cpu_quota or res.cpu_period:
            quota = res.cpu_quota
            period = res.cpu_period
            if quota is None or period is None:
                cur = read(os.path.join(p, "cpu.max")).split()
                quota = quota if quota is not None else (-1 if cur[0] == "max" else int(cur[0]))
                period = period or int(cur[1])
            write(os.path.join(p, "cpu.max"), f"{'max' if quota <= 0 else quota} {period}")
        if res.cpuset_cpus:
            write(os.path.join(p, "cpuset.cpus"), res.cpuset_cpus)
        if res.cpuset_mems:
            write(os.path.join(p, "cpuset.mems"), res.cpuset_mems)
        if res.pids_limit:
            write(os.path.join(p, "pids.max"),
                  str(res.pids_limit) if res.pids_limit > 0 else "max")
        # Device rules need an eBPF program on v2; pyd-runc does not load one (see README).

    def _freeze(self, value: str) -> None:
        write(os.path.join(self.path, "cgroup.freeze"), value)
        events = os.path.join(self.path, "cgroup.events")
        for _ in range(1000):
            for line in read(events).splitlines():
                k, _, v = line.partition(" ")
                if k == "frozen" and v == value:
                    return
            time.sleep(0.001)
        raise CgroupError(f"unable to set cgroup.freeze to {value}")

    def freeze(self) -> None:
        """cgroup.freeze = 1, waiting for cgroup.events to say frozen."""
        self._freeze("1")

    def thaw(self) -> None:
        """cgroup.freeze = 0."""
        self._freeze("0")

    def frozen(self) -> bool:
        """True when cgroup.freeze is 1."""
        try:
            return read(os.path.join(self.path, "cgroup.freeze")) == "1"
        except OSError:
            return False

    def procs_path(self) -> str | None:
        """The container's cgroup.procs."""
        return os.path.join(self.path, "cgroup.procs")
