"""What a stack holds on the host, counted so a test can compare before and after:
shim processes, mounts, veths, IP leases, cgroups and the per-container files the
daemons keep (runtime state, bundles, netns files, snapshots, container dirs).

Each kind is a list of strings; a leak is what `after` holds beyond `before`
(as multisets, so a shim zygote that was restarted under a new pid is no leak).
"""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
from pathlib import Path

from tests import hostcleanup
from tests.stack import Stack

Snapshot = dict[str, list[str]]


def shim_processes(stack: Stack) -> list[str]:
    """Every pyd-shim process of this stack (the zygote included), by command line."""
    out = []
    for pid in hostcleanup.pids_mentioning([str(stack.state)]):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{pid}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if "pyd-shim" in cmd and not zombie:
            out.append(cmd)
    return out


def veths(stack: Stack) -> list[str]:
    """Host-side veth devices in the stack's network namespace."""
    from pyroute2 import NetNS

    if not stack.netns:
        return []
    with NetNS(os.path.basename(stack.netns)) as ns:
        return sorted(str(link.get_attr("IFLA_IFNAME")) for link in ns.get_links()
                      if (link.get_attr("IFLA_LINKINFO") or {}) and
                      link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND") == "veth")


def ip_leases(stack: Stack) -> list[str]:
    """Rows of dockerd's ip_leases table (the gateways' included)."""
    db = stack.root / "pyd.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT network_id, address, owner FROM ip_leases").fetchall()
    finally:
        con.close()
    return sorted(f"{n[:12]} {a} {o}" for n, a, o in rows)


def cgroups(stack: Stack) -> list[str]:
    """Every cgroup below the stack's cgroup parent, in every hierarchy."""
    out = []
    for top in hostcleanup.cgroup_dirs(stack.cgroup_parent):
        for dirpath, _dirs, _files in os.walk(top):
            if dirpath != top:
                out.append(os.path.relpath(dirpath, hostcleanup.CGROUP_ROOT))
    return sorted(out)


def _entries(path: Path) -> list[str]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        return sorted(str(p.relative_to(path)) for p in path.iterdir())
    return []


def snapshot(stack: Stack) -> Snapshot:
    """Everything countable the stack holds on the host right now."""
    containerd_state = stack.state / "containerd"
    return {
        "shims": shim_processes(stack),
        "mounts": hostcleanup.mounts_under([str(stack.root), str(stack.state)]),
        "veths": veths(stack),
        "ip_leases": ip_leases(stack),
        "cgroups": cgroups(stack),
        "runtime_state": _entries(stack.state / "runc" / "moby"),
        "bundles": _entries(containerd_state / "io.containerd.runtime.v2.task" / "moby"),
        "netns_files": _entries(stack.state / "netns"),
        "snapshots": _entries(stack.root / "containerd" /
                              "io.containerd.snapshotter.v1.overlayfs" / "snapshots"),
        "container_dirs": _entries(stack.root / "containers"),
    }


def leaks(before: Snapshot, after: Snapshot) -> Snapshot:
    """What `after` holds beyond `before`, per kind; empty kinds left out."""
    out = {}
    for kind, items in after.items():
        extra = collections.Counter(items) - collections.Counter(before.get(kind, []))
        if extra:
            out[kind] = sorted(extra.elements())
    return out


def counts(s: Snapshot) -> dict[str, int]:
    return {kind: len(items) for kind, items in s.items()}
