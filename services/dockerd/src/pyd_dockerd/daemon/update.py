"""`docker update` (moby daemon/update.go and container.UpdateContainer): merge the
new resources and restart policy into the container's HostConfig, persist it, and
apply the limits to a running container live through containerd's Tasks.Update
(→ shim → `pyd-runc update`). A restart rebuilds the OCI spec from the saved
HostConfig, so the change outlives the task."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, PydError

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.update")

MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD = 100_000  # µs, what --cpus is expressed against (as Docker)
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")


def _conflict(msg: str) -> InvalidArgument:
    return InvalidArgument(f"Conflicting options: {msg}")


def merge(hc: dict[str, Any], res: dict[str, Any],
          policy: dict[str, Any] | None) -> dict[str, Any]:
    """The container's new HostConfig: fields of `res` that are set (non-zero, as
    Docker's update reads them; PidsLimit when present) replace the old ones."""
    new = dict(hc)
    memory = int(res.get("Memory") or 0)
    swap = int(res.get("MemorySwap") or 0)
    if memory:
        if memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        old_swap = int(hc.get("MemorySwap") or 0)
        if old_swap > 0 and memory > old_swap and not swap:
            raise _conflict("Memory limit should be smaller than already set memoryswap "
                            "limit, update the memoryswap at the same time")
        new["Memory"] = memory
    if swap:
        if swap > 0 and swap < int(new.get("Memory") or 0):
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory "
                                  "limit, see usage")
        new["MemorySwap"] = swap
    nano = int(res.get("NanoCpus") or 0)
    if nano:
        if nano < 0:
            raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs "
                                  "available")
        if int(hc.get("CpuQuota") or 0) or int(hc.get("CpuPeriod") or 0):
            raise _conflict("CPU Quota cannot be updated as NanoCPUs has already been set")
        new["NanoCpus"] = nano
    for key in ("CpuShares", "CpuPeriod", "CpuQuota", "MemoryReservation", "BlkioWeight"):
        if int(res.get(key) or 0):
            new[key] = int(res[key])
    for key in ("CpusetCpus", "CpusetMems"):
        if res.get(key):
            new[key] = str(res[key])
    if "PidsLimit" in res:
        limit = int(res["PidsLimit"])
        new["PidsLimit"] = limit if limit > 0 else 0
    if policy is not None and policy.get("Name"):
        name = str(policy["Name"])
        if name not in RESTART_POLICIES:
            raise InvalidArgument(f"invalid restart policy '{name}'")
        count = int(policy.get("MaximumRetryCount") or 0)
        if count and name != "on-failure":
            raise InvalidArgument("invalid restart policy: maximum retry count can only be "
                                  "used with 'on-failure'")
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be "
                                  "negative")
        if hc.get("AutoRemove") and name != "no":
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is "
                                  "enabled for the container")
        new["RestartPolicy"] = {"Name": name, "MaximumRetryCount": count}
    return new


def linux_resources(hc: dict[str, Any]) -> dict[str, Any]:
    """The OCI LinuxResources for a HostConfig's limits (moby toContainerdResources);
    devices are left out: they are set at create only."""
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if int(hc.get("Memory") or 0):
        mem["limit"] = int(hc["Memory"])
    if int(hc.get("MemorySwap") or 0):
        mem["swap"] = int(hc["MemorySwap"])
    if int(hc.get("MemoryReservation") or 0):
        mem["reservation"] = int(hc["MemoryReservation"])
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    nano = int(hc.get("NanoCpus") or 0)
    if nano:
        cpu.update(period=CPU_PERIOD, quota=nano * CPU_PERIOD // 1_000_000_000)
    else:
        if int(hc.get("CpuPeriod") or 0):
            cpu["period"] = int(hc["CpuPeriod"])
        if int(hc.get("CpuQuota") or 0):
            cpu["quota"] = int(hc["CpuQuota"])
    if int(hc.get("CpuShares") or 0):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = str(hc["CpusetCpus"])
    if hc.get("CpusetMems"):
        cpu["mems"] = str(hc["CpusetMems"])
    if cpu:
        res["cpu"] = cpu
    # runc reads -1 as "max": an update to unlimited must say so explicitly.
    res["pids"] = {"limit": int(hc.get("PidsLimit") or 0) or -1}
    return res


def update(d: Daemon, ref: str, resources: dict[str, Any],
           policy: dict[str, Any] | None) -> list[str]:
    """Apply the update to `ref`; returns Docker's warnings (none so far)."""
    with d.locked(ref) as c:
        new = merge(c.host_config, resources, policy)
        old = c.host_config
        c.host_config = new
        if c.state.running and not c.state.restarting:  # paused ones too, as moby
            try:
                d.containerd.update_task(c.id, linux_resources(new))
            except PydError as e:
                c.host_config = old
                raise FailedPrecondition(f"Cannot update container {c.id}: {e}") from e
        d.containers.save(c)
        log.info("updated", extra={"id": c.id, "resources": linux_resources(new)})
    d.events.emit("container", "update", c.id, {"name": c.name})
    return []
