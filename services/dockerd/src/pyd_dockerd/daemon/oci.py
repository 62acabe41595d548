"""The OCI runtime spec of a container (moby's daemon/oci_linux.go + oci/defaults.go):
Docker's defaults (namespaces, mounts, capabilities, masked paths, devices) with the
user's choices (env, user, resources, privileges) applied on top."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pyd_proto.errdefs import InvalidArgument

# Docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Devices every container may use (moby oci/devices_linux.go DefaultCapabilities list).
_ALLOWED_DEVICES = [
    ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9), ("c", 5, 0),
    ("c", 5, 1), ("c", 5, 2), ("c", 136, -1), ("c", 10, 200),
]


@dataclass
class SpecOptions:
    """What the container's config and host config decide about its spec."""

    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = ""
    tty: bool = False
    read_only: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    memory: int = 0             # bytes; 0 = no limit
    memory_swap: int = 0        # bytes incl. memory; -1 = unlimited
    nano_cpus: int = 0          # --cpus times 1e9
    cpu_shares: int = 0
    pids_limit: int = 0         # 0 = no limit
    cgroups_path: str = ""
    network_ns: str | None = ""  # "" = new, None = host's, path = join that namespace
    extra_mounts: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    oom_score_adj: int = 0


def normalize_caps(names: list[str]) -> list[str]:
    """`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `ALL` stays `ALL`."""
    out = []
    for n in names:
        up = n.strip().upper()
        if up == "ALL":
            out.append("ALL")
            continue
        cap = up if up.startswith("CAP_") else f"CAP_{up}"
        if cap not in ALL_CAPS:
            raise InvalidArgument(f"unknown capability: {n!r}")
        out.append(cap)
    return out


def bounding_caps() -> list[str]:
    """The capabilities in dockerd's own bounding set (ALL_CAPS is in kernel number
    order): no process it starts can be granted more."""
    try:
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [cap for bit, cap in enumerate(ALL_CAPS) if mask >> bit & 1]


def capabilities(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """Docker's rules: privileged gets all (all the host has: a sandboxed host may lack
    some, and asking for those would fail the start); drop ALL then add; add ALL then
    drop."""
    if privileged:
        return bounding_caps()
    add, drop = normalize_caps(cap_add), normalize_caps(cap_drop)
    base = list(ALL_CAPS) if "ALL" in add else list(DEFAULT_CAPS)
    if "ALL" in drop:
        base = [c for c in add if c != "ALL"]
    else:
        base = [c for c in base if c not in drop]
        base += [c for c in add if c != "ALL" and c not in base]
    return base


def _env_with_defaults(env: list[str], hostname: str, tty: bool) -> list[str]:
    keys = {e.split("=", 1)[0] for e in env}
    out = []
    if "PATH" not in keys:
        out.append(f"PATH={DEFAULT_PATH}")
    if hostname and "HOSTNAME" not in keys:
        out.append(f"HOSTNAME={hostname}")
    if tty and "TERM" not in keys:
        out.append("TERM=xterm")
    return out + env


def _mounts(o: SpecOptions) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                     "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]
    taken = {m["destination"] for m in o.extra_mounts}
    mounts = [m for m in mounts if m["destination"] not in taken]
    return mounts + o.extra_mounts


def _resources(o: SpecOptions) -> dict[str, Any]:
    res: dict[str, Any] = {
        "devices": [{"allow": False, "access": "rwm"}] + [
            {"allow": True, "type": t, "major": ma, **({"minor": mi} if mi >= 0 else {}),
             "access": "rwm"} for t, ma, mi in _ALLOWED_DEVICES],
    }
    if o.privileged:
        res["devices"] = [{"allow": True, "access": "rwm"}]
    if o.memory:
        mem: dict[str, Any] = {"limit": o.memory}
        if o.memory_swap:
            mem["swap"] = o.memory_swap
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if o.nano_cpus:
        period = 100_000
        cpu.update(period=period, quota=o.nano_cpus * period // 1_000_000_000)
    if o.cpu_shares:
        cpu["shares"] = o.cpu_shares
    if cpu:
        res["cpu"] = cpu
    if o.pids_limit > 0:
        res["pids"] = {"limit": o.pids_limit}
    return res


def build_spec(o: SpecOptions, rootfs: str = "rootfs") -> dict[str, Any]:
    """The OCI config.json for `o` (ociVersion 1.0.2, what runc 1.1 reads)."""
    if not o.args:
        raise InvalidArgument("no command specified")
    caps = capabilities(o.cap_add, o.cap_drop, o.privileged)
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if o.network_ns is not None:
        namespaces.append({"type": "network", **({"path": o.network_ns} if o.network_ns
                                                  else {})})
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": o.tty,
            "user": {"uid": o.uid, "gid": o.gid,
                     **({"additionalGids": o.additional_gids} if o.additional_gids else {})},
            "args": o.args,
            "env": _env_with_defaults(o.env, o.hostname, o.tty),
            "cwd": o.cwd or "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
            "oomScoreAdj": o.oom_score_adj,
        },
        "root": {"path": rootfs, "readonly": o.read_only},
        "hostname": o.hostname,
        "mounts": _mounts(o),
        "annotations": o.annotations,
        "linux": {
            "resources": _resources(o),
            "cgroupsPath": o.cgroups_path,
            "namespaces": namespaces,
            "maskedPaths": [] if o.privileged else MASKED_PATHS,
            "readonlyPaths": [] if o.privileged else READONLY_PATHS,
        },
    }
    if o.privileged:
        # Privileged containers see the host's /sys read-write, as Docker's do.
        for m in spec["mounts"]:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [x for x in m["options"] if x != "ro"]
    return spec


def resolve_user(rootfs: str, user: str) -> tuple[int, int, list[int]]:
    """`name`, `uid`, `name:group` or `uid:gid` → (uid, gid, supplementary gids), looked
    up in the container's own /etc/passwd and /etc/group as Docker does."""
    if not user:
        return 0, 0, []
    name, _, group = user.partition(":")
    passwd = _read_db(os.path.join(rootfs, "etc/passwd"))
    groups = _read_db(os.path.join(rootfs, "etc/group"))
    uid: int | None = None
    gid = 0
    for entry in passwd:
        if len(entry) >= 4 and (entry[0] == name or (name.isdigit() and entry[2] == name)):
            uid, gid = int(entry[2]), int(entry[3])
            name = entry[0]
            break
    if uid is None:
        if not name.isdigit():
            raise InvalidArgument(f"unable to find user {name}: no matching entries in "
                                  "passwd file")
        uid = int(name)
    if group:
        for entry in groups:
            if len(entry) >= 3 and (entry[0] == group or entry[2] == group):
                gid = int(entry[2])
                break
        else:
            if not group.isdigit():
                raise InvalidArgument(f"unable to find group {group}: no matching entries "
                                      "in group file")
            gid = int(group)
    extra = sorted({int(e[2]) for e in groups if len(e) >= 4 and e[2].isdigit() and
                    name in e[3].split(",") and int(e[2]) != gid})
    return uid, gid, extra


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and
                    not line.startswith("#")]
    except OSError:
        return []
