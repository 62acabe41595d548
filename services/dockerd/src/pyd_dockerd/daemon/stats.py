"""`docker stats` (moby daemon/stats.go, stats_unix.go and stats/collector): one
sample of a running container's resource usage in Docker's StatsJSON shape, read
from the cgroups of its init process (v1 controllers or the v2 unified tree,
whichever it is in) and from its network namespace's /proc/<pid>/net/dev.

moby gets the cgroup figures through containerd's Tasks.Metrics; pyd reads the
same files directly, since dockerd runs on the same host and the container's
cgroup path is known from its init's /proc/<pid>/cgroup, which spares a round
trip through containerd and the shim for each sample of each container.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyd_dockerd.container.container import Container
from pyd_proto.errdefs import NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

CGROUP_V1_ROOT = "/sys/fs/cgroup"
# The unified tree: a hybrid host mounts it under unified/, a pure v2 host at the root.
CGROUP_V2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
# moby's collector samples once a second; `stats --no-stream` waits for two samples.
INTERVAL = 1.0

_CLK_TCK = os.sysconf("SC_CLK_TCK") or 100
_NS_PER_TICK = 1_000_000_000 // _CLK_TCK


@dataclass
class Sample:
    """One StatsJSON, Docker's keys (types.StatsJSON without precpu_stats/preread)."""

    read: datetime
    cpu: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    blkio: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    networks: dict[str, dict[str, int]] | None = None


# --------------------------------------------------------------- file readers
def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str) -> int | None:
    """A single-number cgroup file; "max" (no limit) reads as None."""
    text = (_read(path) or "").strip()
    if not text or text == "max":
        return None
    try:
        return int(text.split()[0])
    except ValueError:
        return None


def _keyed(path: str) -> dict[str, int]:
    """"key value" lines (memory.stat, cpu.stat, cpuacct.stat)."""
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def cgroup_paths(pid: int) -> dict[str, str]:
    """controller → directory of `pid`'s cgroup ("" for the v2 unified tree)."""
    text = _read(f"/proc/{pid}/cgroup")
    if text is None:
        raise NotFound(f"process {pid} is gone")
    out: dict[str, str] = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            for root in CGROUP_V2_ROOTS:
                if os.path.exists(os.path.join(root, "cgroup.controllers")):
                    out[""] = root + path
                    break
            continue
        for ctrl in controllers.split(","):
            out[ctrl.removeprefix("name=")] = os.path.join(CGROUP_V1_ROOT, controllers) + path
    return out


def system_cpu_usage() -> int:
    """The host's total CPU time in ns (moby getSystemCPUUsage: the first seven
    fields of /proc/stat's "cpu" line, in clock ticks)."""
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(x) for x in line.split()[1:8])
            return ticks * _NS_PER_TICK
    return 0


def online_cpus() -> int:
    return int(os.sysconf("SC_NPROCESSORS_ONLN") or 1)


def machine_memory() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------- cgroups
def _v1_blkio(path: str) -> dict[str, list[dict[str, Any]]]:
    """blkio.*_recursive ("8:0 Read 4096"); the throttle files when the CFQ ones are
    empty, as containerd/cgroups does."""
    out: dict[str, list[dict[str, Any]]] = {}
    for key, name in (("io_service_bytes_recursive", "io_service_bytes_recursive"),
                      ("io_serviced_recursive", "io_serviced_recursive")):
        entries: list[dict[str, Any]] = []
        for fname in (f"blkio.{name}", f"blkio.throttle.{name.removesuffix('_recursive')}"):
            for line in (_read(os.path.join(path, fname)) or "").splitlines():
                parts = line.split()
                if len(parts) != 3 or ":" not in parts[0]:
                    continue  # the "Total N" line
                major, minor = parts[0].split(":", 1)
                entries.append({"major": int(major), "minor": int(minor),
                                "op": parts[1], "value": int(parts[2])})
            if entries:
                break
        out[key] = entries
    return out


def _v2_blkio(path: str) -> dict[str, list[dict[str, Any]]]:
    """io.stat ("8:0 rbytes=.. wbytes=.. rios=.. wios=.."), as moby converts it."""
    by_bytes: list[dict[str, Any]] = []
    by_ops: list[dict[str, Any]] = []
    for line in (_read(os.path.join(path, "io.stat")) or "").splitlines():
        dev, *kvs = line.split()
        if ":" not in dev:
            continue
        major, minor = (int(x) for x in dev.split(":", 1))
        vals = {k: int(v) for k, _, v in (kv.partition("=") for kv in kvs) if v.isdigit()}
        for op, b, n in (("read", "rbytes", "rios"), ("write", "wbytes", "wios")):
            by_bytes.append({"major": major, "minor": minor, "op": op,
                             "value": vals.get(b, 0)})
            by_ops.append({"major": major, "minor": minor, "op": op, "value": vals.get(n, 0)})
    return {"io_service_bytes_recursive": by_bytes, "io_serviced_recursive": by_ops}


def read_cgroups(paths: dict[str, str], sample: Sample, mem_total: int) -> None:
    """Fill `sample`'s cpu, memory, pids and blkio from the cgroup directories."""
    v2 = paths.get("")
    acct = paths.get("cpuacct")
    if acct and os.path.exists(os.path.join(acct, "cpuacct.usage")):
        st = _keyed(os.path.join(acct, "cpuacct.stat"))
        percpu = [int(x) for x in (_read(os.path.join(acct, "cpuacct.usage_percpu"))
                                   or "").split()]
        usage: dict[str, Any] = {
            "total_usage": _int(os.path.join(acct, "cpuacct.usage")) or 0,
            "percpu_usage": percpu,
            "usage_in_kernelmode": st.get("system", 0) * _NS_PER_TICK,
            "usage_in_usermode": st.get("user", 0) * _NS_PER_TICK}
        th = _keyed(os.path.join(paths.get("cpu", acct), "cpu.stat"))
        throttled_ns = th.get("throttled_time", 0)
    elif v2:
        cs = _keyed(os.path.join(v2, "cpu.stat"))
        usage = {"total_usage": cs.get("usage_usec", 0) * 1000,
                 "usage_in_kernelmode": cs.get("system_usec", 0) * 1000,
                 "usage_in_usermode": cs.get("user_usec", 0) * 1000}
        th = cs
        throttled_ns = cs.get("throttled_usec", 0) * 1000
    else:
        usage, th, throttled_ns = {}, {}, 0
    sample.cpu = {"cpu_usage": usage, "throttling_data": {
        "periods": th.get("nr_periods", 0), "throttled_periods": th.get("nr_throttled", 0),
        "throttled_time": throttled_ns}}

    mem = paths.get("memory")
    if mem and os.path.exists(os.path.join(mem, "memory.usage_in_bytes")):
        limit = _int(os.path.join(mem, "memory.limit_in_bytes")) or 0
        sample.memory = {
            "usage": _int(os.path.join(mem, "memory.usage_in_bytes")) or 0,
            "max_usage": _int(os.path.join(mem, "memory.max_usage_in_bytes")) or 0,
            "failcnt": _int(os.path.join(mem, "memory.failcnt")) or 0,
            "stats": _keyed(os.path.join(mem, "memory.stat")), "limit": limit}
    elif v2:
        sample.memory = {"usage": _int(os.path.join(v2, "memory.current")) or 0,
                         "stats": _keyed(os.path.join(v2, "memory.stat")),
                         "limit": _int(os.path.join(v2, "memory.max")) or 0}
    if sample.memory:
        # moby: no limit (or one above the host's memory) shows as the host's memory.
        limit = int(sample.memory.get("limit") or 0)
        if mem_total and (limit == 0 or limit > mem_total):
            sample.memory["limit"] = mem_total

    pids = paths.get("pids")
    pdir = pids if pids and os.path.exists(os.path.join(pids, "pids.current")) else v2
    if pdir:
        sample.pids = {"current": _int(os.path.join(pdir, "pids.current")) or 0,
                       "limit": _int(os.path.join(pdir, "pids.max")) or 0}

    blk = paths.get("blkio")
    if blk and os.path.isdir(blk):
        sample.blkio = _v1_blkio(blk)
    elif v2:
        sample.blkio = _v2_blkio(v2)


# ------------------------------------------------------------------- network
def read_networks(pid: int) -> dict[str, dict[str, int]]:
    """Per-interface counters of `pid`'s network namespace, loopback left out (moby
    reports the sandbox's interfaces, keyed by their name inside the container)."""
    out: dict[str, dict[str, int]] = {}
    for line in (_read(f"/proc/{pid}/net/dev") or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        f = rest.split()
        if name == "lo" or len(f) < 12:
            continue
        n = [int(x) for x in f]
        out[name] = {"rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2],
                     "rx_dropped": n[3], "tx_bytes": n[8], "tx_packets": n[9],
                     "tx_errors": n[10], "tx_dropped": n[11]}
    return out


# -------------------------------------------------------------------- samples
def sample(c: Container, mem_total: int | None = None) -> Sample | None:
    """One sample of a running container; None when it does not run (any more)."""
    pid = c.state.pid
    if not c.state.running or not pid:
        return None
    try:
        paths = cgroup_paths(pid)
    except NotFound:
        return None
    s = Sample(read=datetime.now(UTC))
    read_cgroups(paths, s, machine_memory() if mem_total is None else mem_total)
    s.cpu["system_cpu_usage"] = system_cpu_usage()
    s.cpu["online_cpus"] = online_cpus()
    if c.network_mode != "host":  # the host's interfaces are not the container's
        s.networks = read_networks(pid)
    return s


def stream(d: Daemon, ref: str, *, follow: bool, one_shot: bool,
           stopped: Callable[[], bool]) -> Iterator[tuple[Container, Sample | None,
                                                          Sample | None]]:
    """(container, sample, previous sample) as moby's ContainerStats sends them: with
    `follow`, one a second until `stopped()` or the container is removed; without,
    one — taken after a first that primes precpu_stats, unless `one_shot`. A
    container that is not running gives (container, None, None)."""
    c = d.containers.get(ref)
    mem_total = machine_memory()
    if not follow and (not c.state.running or c.state.restarting):
        yield c, None, None
        return
    prev: Sample | None = None
    primed = one_shot or follow
    while True:
        try:
            c = d.containers.get(c.id)
        except NotFound:
            return
        cur = sample(c, mem_total)
        if cur is None:
            prev = None
        if primed or cur is None:
            yield c, cur, prev
            if not follow:
                return
        primed = True
        prev = cur
        deadline = time.monotonic() + INTERVAL
        while time.monotonic() < deadline:
            if stopped():
                return
            time.sleep(0.05)


def to_dict(c: Container, cur: Sample | None, prev: Sample | None) -> dict[str, Any]:
    """Docker's StatsJSON for one message ("name" with its leading "/")."""
    out: dict[str, Any] = {"name": c.display_name, "id": c.id}
    if cur is None:
        return out
    out.update(read=cur.read, cpu_stats=cur.cpu, memory_stats=cur.memory,
               pids_stats=cur.pids, blkio_stats=cur.blkio)
    if cur.networks is not None:
        out["networks"] = cur.networks
    if prev is not None:
        out.update(preread=prev.read, precpu_stats=prev.cpu)
    return out
