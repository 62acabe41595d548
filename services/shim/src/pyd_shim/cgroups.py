"""Cgroup figures of a container, read from the files of its init's cgroups (v1 and v2).

Runtime-independent, so Stats works with `runc` and `pyd-runc` alike. They travel
as upstream's `io.containerd.cgroups.v1.Metrics` (containerd/cgroups
stats/v1/metrics.proto), encoded here by hand since pyd carries no copy of that
.proto, so `ctr tasks metrics` reads them; `decode_v1` gives pyd's own readers the
flat figures back.
"""

from __future__ import annotations

import os

V1_ROOT = "/sys/fs/cgroup"
V2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def paths(pid: int) -> dict[str, str]:
    """controller → cgroup directory of `pid` (v2 under the key "")."""
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                for root in V2_ROOTS:
                    if os.path.exists(os.path.join(root, "cgroup.controllers")):
                        out[""] = root + path
                        break
                continue
            for c in controllers.split(","):
                out[c.removeprefix("name=")] = os.path.join(V1_ROOT, controllers) + path
    return out


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max":
        return -1
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[1].isdigit():
                    out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


def stats(pid: int) -> dict[str, float]:
    """Flat figures: memory.usage/limit/max_usage (bytes), cpu.usage_ns, pids.current ..."""
    p = paths(pid)
    out: dict[str, float] = {}

    def put(key: str, value: int | None) -> None:
        if value is not None:
            out[key] = float(value)

    if "memory" in p:
        put("memory.usage", _read_int(os.path.join(p["memory"], "memory.usage_in_bytes")))
        put("memory.limit", _read_int(os.path.join(p["memory"], "memory.limit_in_bytes")))
        put("memory.max_usage",
            _read_int(os.path.join(p["memory"], "memory.max_usage_in_bytes")))
        stat = _keyed(os.path.join(p["memory"], "memory.stat"))
        for k in ("rss", "cache"):
            if k in stat:
                out[f"memory.{k}"] = float(stat[k])
    if "cpuacct" in p:
        put("cpu.usage_ns", _read_int(os.path.join(p["cpuacct"], "cpuacct.usage")))
    if "pids" in p:
        put("pids.current", _read_int(os.path.join(p["pids"], "pids.current")))
        put("pids.limit", _read_int(os.path.join(p["pids"], "pids.max")))
    v2 = p.get("")
    if v2:
        if "memory.usage" not in out:
            put("memory.usage", _read_int(os.path.join(v2, "memory.current")))
            put("memory.limit", _read_int(os.path.join(v2, "memory.max")))
        if "cpu.usage_ns" not in out:
            usec = _keyed(os.path.join(v2, "cpu.stat")).get("usage_usec")
            if usec is not None:
                out["cpu.usage_ns"] = float(usec * 1000)
        if "pids.current" not in out:
            put("pids.current", _read_int(os.path.join(v2, "pids.current")))
    return out


METRICS_TYPE_URL = "io.containerd.cgroups.v1.Metrics"  # the bare name Go's typeurl resolves

# flat figure → (Metrics field, sub-message path...) in stats/v1/metrics.proto
_V1_FIELDS: dict[str, tuple[int, ...]] = {
    "pids.current": (2, 1), "pids.limit": (2, 2),
    "cpu.usage_ns": (3, 1, 1),
    "memory.cache": (4, 1), "memory.rss": (4, 2),
    "memory.limit": (4, 33, 1), "memory.usage": (4, 33, 2), "memory.max_usage": (4, 33, 3),
}


def encode_v1(figures: dict[str, float]) -> bytes:
    """Flat figures as an `io.containerd.cgroups.v1.Metrics` message."""
    from pyd_shim.ttrpc import field_bytes, field_varint

    tree: dict[int, object] = {}
    for key, path in _V1_FIELDS.items():
        value = figures.get(key)
        if value is None or value < 0:
            continue
        node = tree
        for num in path[:-1]:
            node = node.setdefault(num, {})  # type: ignore[assignment]
        node[path[-1]] = int(value)

    def enc(node: dict[int, object]) -> bytes:
        out = b""
        for num in sorted(node):
            value = node[num]
            if isinstance(value, dict):
                out += field_bytes(num, enc(value))
            else:
                out += field_varint(num, int(value))  # type: ignore[call-overload]
        return out

    return enc(tree)


def decode_v1(data: bytes) -> dict[str, float]:
    """The flat figures of an `io.containerd.cgroups.v1.Metrics` message."""
    from pyd_shim.ttrpc import fields

    def walk(buf: bytes, prefix: tuple[int, ...], out: dict[tuple[int, ...], int]) -> None:
        for num, value in fields(buf):
            path = (*prefix, num)
            if isinstance(value, int):
                out[path] = value
            elif any(p[:len(path)] == path for p in _V1_FIELDS.values()):
                walk(value, path, out)

    found: dict[tuple[int, ...], int] = {}
    walk(data, (), found)
    return {key: float(found[path]) for key, path in _V1_FIELDS.items() if path in found}
