"""Container statistics from cgroup files, in runc's `events --stats` JSON shape."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyd_runtime.libcontainer.cgroups import Manager

_NS_PER_TICK = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") or 100)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(path: str) -> int:
    v = _read(path)
    if not v or v == "max":
        return 0
    try:
        return int(v.split()[0])
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        k, _, v = line.partition(" ")
        try:
            out[k] = int(v)
        except ValueError:
            continue
    return out


def _cpu_list(s: str | None) -> list[int]:
    out: list[int] = []
    for part in (s or "").split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def _usage(base: str, prefix: str) -> dict[str, int]:
    return {"limit": _int(f"{base}.{prefix}limit_in_bytes"),
            "usage": _int(f"{base}.{prefix}usage_in_bytes"),
            "max": _int(f"{base}.{prefix}max_usage_in_bytes"),
            "failcnt": _int(f"{base}.{prefix}failcnt")}


def _v1(paths: dict[str, str]) -> dict[str, Any]:
    def path(ctrl: str) -> str | None:
        for key, p in paths.items():
            if ctrl in key.split(","):
                return p
        return None

    data: dict[str, Any] = {}
    acct, cpu = path("cpuacct"), path("cpu")
    if acct:
        st = _kv(os.path.join(acct, "cpuacct.stat"))
        percpu = [int(x) for x in (_read(os.path.join(acct, "cpuacct.usage_percpu")) or ""
                                   ).split()]
        usage: dict[str, Any] = {
            "total": _int(os.path.join(acct, "cpuacct.usage")), "percpu": percpu,
            "kernel": st.get("system", 0) * _NS_PER_TICK,
            "user": st.get("user", 0) * _NS_PER_TICK}
        data["cpu"] = {"usage": usage, "throttling": {}}
        if cpu:
            th = _kv(os.path.join(cpu, "cpu.stat"))
            if any(th.values()):
                data["cpu"]["throttling"] = {"periods": th.get("nr_periods", 0),
                                             "throttled_periods": th.get("nr_throttled", 0),
                                             "throttled_time": th.get("throttled_time", 0)}
    cs = path("cpuset")
    if cs:
        data["cpuset"] = {"cpus": _cpu_list(_read(os.path.join(cs, "cpuset.cpus"))),
                          "mems": _cpu_list(_read(os.path.join(cs, "cpuset.mems")))}
    mem = path("memory")
    if mem:
        base = os.path.join(mem, "memory")
        raw = _kv(base + ".stat")
        m: dict[str, Any] = {}
        if raw.get("cache"):
            m["cache"] = raw["cache"]
        m["usage"] = _usage(base, "")
        m["swap"] = _usage(base, "memsw.")
        m["kernel"] = _usage(base, "kmem.")
        m["kernelTCP"] = {"limit": _int(base + ".kmem.tcp.limit_in_bytes"),
                          "failcnt": _int(base + ".kmem.tcp.failcnt")}
        m["raw"] = raw
        data["memory"] = m
    pids = path("pids")
    if pids:
        data["pids"] = {"current": _int(os.path.join(pids, "pids.current")),
                        "limit": _int(os.path.join(pids, "pids.max"))}
    data["blkio"] = {}
    data["hugetlb"] = {}
    return data


def _v2(path: str) -> dict[str, Any]:
    cpu = _kv(os.path.join(path, "cpu.stat"))
    data: dict[str, Any] = {"cpu": {"usage": {
        "total": cpu.get("usage_usec", 0) * 1000, "percpu": [],
        "kernel": cpu.get("system_usec", 0) * 1000, "user": cpu.get("user_usec", 0) * 1000},
        "throttling": {}}}
    if cpu.get("nr_periods"):
        data["cpu"]["throttling"] = {"periods": cpu.get("nr_periods", 0),
                                     "throttled_periods": cpu.get("nr_throttled", 0),
                                     "throttled_time": cpu.get("throttled_usec", 0) * 1000}
    raw = _kv(os.path.join(path, "memory.stat"))
    data["memory"] = {
        "usage": {"limit": _int(os.path.join(path, "memory.max")),
                  "usage": _int(os.path.join(path, "memory.current")),
                  "max": _int(os.path.join(path, "memory.peak")),
                  "failcnt": _kv(os.path.join(path, "memory.events")).get("max", 0)},
        "swap": {"limit": _int(os.path.join(path, "memory.swap.max")),
                 "usage": _int(os.path.join(path, "memory.swap.current")),
                 "max": 0, "failcnt": 0},
        "raw": raw}
    if raw.get("file"):
        data["memory"]["cache"] = raw["file"]
    data["pids"] = {"current": _int(os.path.join(path, "pids.current")),
                    "limit": _int(os.path.join(path, "pids.max"))}
    data["blkio"] = {}
    data["hugetlb"] = {}
    return data


def collect(mgr: Manager) -> dict[str, Any]:
    """The ``data`` object of a stats event."""
    if mgr.version == 2:
        return _v2(mgr.paths[""])
    return _v1(mgr.paths)


def oom_kills(mgr: Manager) -> int:
    """How many OOM kills the container's memory cgroup has seen."""
    if mgr.version == 2:
        return _kv(os.path.join(mgr.paths[""], "memory.events")).get("oom_kill", 0)
    for key, p in mgr.paths.items():
        if "memory" in key.split(","):
            return _kv(os.path.join(p, "memory.oom_control")).get("oom_kill", 0)
    return 0
