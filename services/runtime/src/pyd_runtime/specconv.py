"""OCI runtime spec (config.json) → the runtime's internal configuration.

Mirrors runc's libcontainer/specconv: the bundle's JSON is read once, checked, and
turned into plain objects the rest of libcontainer uses. Errors are ``ConfigError``
with a message that names the offending field.
"""

from __future__ import annotations

import os

from pyd_runtime import fastjson
from pyd_runtime.libcontainer import consts as sc
from pyd_runtime.libcontainer.hooks import KINDS as HOOK_KINDS
from pyd_runtime.libcontainer.hooks import Hook

# typing is imported only by type checkers: it costs start-up time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ConfigError(ValueError):
    """The bundle's configuration is missing or invalid."""


# name -> (clear, flag): runc's parseMountOptions table.
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, sc.MS_SYNCHRONOUS),
    "atime": (True, sc.MS_NOATIME),
    "bind": (False, sc.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, sc.MS_NODEV),
    "diratime": (True, sc.MS_NODIRATIME),
    "dirsync": (False, sc.MS_DIRSYNC),
    "exec": (True, sc.MS_NOEXEC),
    "lazytime": (False, sc.MS_LAZYTIME),
    "loud": (True, sc.MS_SILENT),
    "mand": (False, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME),
    "nodev": (False, sc.MS_NODEV),
    "nodiratime": (False, sc.MS_NODIRATIME),
    "noexec": (False, sc.MS_NOEXEC),
    "nolazytime": (True, sc.MS_LAZYTIME),
    "nomand": (True, sc.MS_MANDLOCK),
    "norelatime": (True, sc.MS_RELATIME),
    "nostrictatime": (True, sc.MS_STRICTATIME),
    "nosuid": (False, sc.MS_NOSUID),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW),
    "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "relatime": (False, sc.MS_RELATIME),
    "remount": (False, sc.MS_REMOUNT),
    "ro": (False, sc.MS_RDONLY),
    "rw": (True, sc.MS_RDONLY),
    "silent": (False, sc.MS_SILENT),
    "strictatime": (False, sc.MS_STRICTATIME),
    "suid": (True, sc.MS_NOSUID),
    "symfollow": (True, sc.MS_NOSYMFOLLOW),
    "sync": (False, sc.MS_SYNCHRONOUS),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

NAMESPACE_FLAGS: dict[str, int] = {
    "user": sc.CLONE_NEWUSER,
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# The file name of each namespace under /proc/PID/ns.
NAMESPACE_FILES: dict[str, str] = {
    "user": "user", "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc",
    "uts": "uts", "cgroup": "cgroup", "time": "time",
}

RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


class Mount:
    """One entry of the spec's ``mounts``, with its options split into flags."""

    __slots__ = ("data", "destination", "flags", "propagation", "source", "type")

    def __init__(self, destination: str, type_: str, source: str, flags: int,
                 propagation: list[int], data: str) -> None:
        self.destination = destination
        self.type = type_
        self.source = source
        self.flags = flags
        self.propagation = propagation
        self.data = data

    @property
    def is_bind(self) -> bool:
        """A bind mount, by type or by flag (runc accepts both)."""
        return self.type == "bind" or bool(self.flags & sc.MS_BIND)


def parse_mount_options(options: list[str]) -> tuple[int, list[int], str]:
    """Split mount options into (flags, propagation flags, data string)."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for o in options:
        if o in MOUNT_FLAGS:
            clear, f = MOUNT_FLAGS[o]
            if clear:
                flags &= ~f
            else:
                flags |= f
        elif o in PROPAGATION:
            propagation.append(PROPAGATION[o])
        else:
            data.append(o)
    return flags, propagation, ",".join(data)


class User:
    """The identity the process runs as."""

    __slots__ = ("additional_gids", "gid", "uid", "umask")

    def __init__(self, uid: int = 0, gid: int = 0, additional_gids: list[int] | None = None,
                 umask: int | None = None) -> None:
        self.uid = uid
        self.gid = gid
        self.additional_gids = additional_gids or []
        self.umask = umask


class Process:
    """The container's (or an exec's) process: argv, env, identity, limits."""

    __slots__ = (
        "ambient",
        "args",
        "bounding",
        "cwd",
        "effective",
        "env",
        "has_caps",
        "inheritable",
        "no_new_privileges",
        "oom_score_adj",
        "permitted",
        "rlimits",
        "terminal",
        "user",
    )

    def __init__(self) -> None:
        self.args: list[str] = []
        self.env: list[str] = []
        self.cwd = "/"
        self.terminal = False
        self.user = User()
        self.has_caps = False
        self.bounding = 0
        self.effective = 0
        self.permitted = 0
        self.inheritable = 0
        self.ambient = 0
        self.rlimits: list[tuple[int, int, int]] = []
        self.no_new_privileges = False
        self.oom_score_adj: int | None = None

    def getenv(self, name: str) -> str | None:
        """The value of ``name`` in the process environment, if set."""
        prefix = name + "="
        for e in self.env:
            if e.startswith(prefix):
                return e[len(prefix):]
        return None


class Resources:
    """cgroup limits (the spec's linux.resources, or an update)."""

    __slots__ = ("cpu_period", "cpu_quota", "cpu_shares", "cpuset_cpus", "cpuset_mems",
                 "devices", "memory_limit", "memory_reservation", "memory_swap",
                 "pids_limit")

    def __init__(self) -> None:
        self.memory_limit: int | None = None
        self.memory_reservation: int | None = None
        self.memory_swap: int | None = None
        self.cpu_shares: int | None = None
        self.cpu_quota: int | None = None
        self.cpu_period: int | None = None
        self.cpuset_cpus: str | None = None
        self.cpuset_mems: str | None = None
        self.pids_limit: int | None = None
        # (allow, type 'a'|'b'|'c', major or -1, minor or -1, access)
        self.devices: list[tuple[bool, str, int, int, str]] = []


class Config:
    """Everything the runtime needs to build one container."""

    __slots__ = (
        "annotations",
        "bundle",
        "cgroups_path",
        "devices_extra",
        "domainname",
        "gid_mappings",
        "hooks",
        "hostname",
        "masked_paths",
        "mounts",
        "namespaces",
        "oci_version",
        "process",
        "readonly_paths",
        "resources",
        "root_readonly",
        "rootfs",
        "rootfs_propagation",
        "seccomp",
        "sysctl",
        "uid_mappings",
    )

    def __init__(self) -> None:
        self.oci_version = ""
        self.bundle = ""
        self.rootfs = ""
        self.root_readonly = False
        self.hostname: str | None = None
        self.domainname: str | None = None
        self.process = Process()
        self.mounts: list[Mount] = []
        # (type, path or "") in the spec's order
        self.namespaces: list[tuple[str, str]] = []
        self.uid_mappings: list[tuple[int, int, int]] = []
        self.gid_mappings: list[tuple[int, int, int]] = []
        self.masked_paths: list[str] = []
        self.readonly_paths: list[str] = []
        self.rootfs_propagation = 0
        self.cgroups_path = ""
        self.resources = Resources()
        self.sysctl: dict[str, str] = {}
        self.seccomp: dict[str, Any] | None = None
        # linux.devices: extra device nodes, as given
        self.devices_extra: list[dict[str, Any]] = []
        # hook kind (prestart, createRuntime ...) -> hooks in order
        self.hooks: dict[str, list[Hook]] = {}
        self.annotations: dict[str, str] = {}

    def namespace(self, kind: str) -> tuple[bool, str]:
        """(wanted, path) for a namespace type: path "" means a new namespace."""
        for t, p in self.namespaces:
            if t == kind:
                return True, p
        return False, ""


def load_spec(bundle: str) -> dict[str, Any]:
    """Read and JSON-decode ``bundle/config.json`` with runc's error messages."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError("JSON specification file config.json not found") from None
    except OSError as e:
        raise ConfigError(f"open {path}: {e.strerror}") from None
    try:
        spec = fastjson.loads(raw)
    except ValueError as e:
        raise ConfigError(f"config.json: invalid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise ConfigError("config.json: the top level must be a JSON object")
    return spec


def _obj(v: Any, where: str) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be an object")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{where} must be an array")
    return v


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where} must be an integer")
    return v


def _opt_int(d: dict[str, Any], key: str, where: str) -> int | None:
    v = d.get(key)
    return None if v is None else _int(v, f"{where}.{key}")


def _strs(v: Any, where: str) -> list[str]:
    items = _list(v, where)
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise ConfigError(f"{where}[{i}] must be a string")
    return items


def parse_process(p: Any, where: str = "process") -> Process:
    """Turn an OCI ``process`` object into a ``Process``."""
    p = _obj(p, where)
    proc = Process()
    proc.args = _strs(p.get("args"), f"{where}.args")
    if not proc.args:
        raise ConfigError(f"{where}.args must not be empty")
    proc.env = _strs(p.get("env"), f"{where}.env")
    cwd = p.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd:
        raise ConfigError("Cwd property must not be empty")
    if not cwd.startswith("/"):
        raise ConfigError(f"cwd {cwd!r} must be an absolute path")
    proc.cwd = cwd
    proc.terminal = bool(p.get("terminal", False))
    u = _obj(p.get("user"), f"{where}.user")
    proc.user = User(
        _int(u.get("uid", 0), f"{where}.user.uid"),
        _int(u.get("gid", 0), f"{where}.user.gid"),
        [_int(g, f"{where}.user.additionalGids") for g in _list(u.get("additionalGids"),
                                                              f"{where}.user.additionalGids")],
        _opt_int(u, "umask", f"{where}.user"),
    )
    caps = p.get("capabilities")
    if caps is not None:
        caps = _obj(caps, f"{where}.capabilities")
        proc.has_caps = True
        from pyd_runtime.libcontainer.capabilities import to_mask

        try:
            proc.bounding = to_mask(_strs(caps.get("bounding"), "capabilities.bounding"))
            proc.effective = to_mask(_strs(caps.get("effective"), "capabilities.effective"))
            proc.permitted = to_mask(_strs(caps.get("permitted"), "capabilities.permitted"))
            proc.inheritable = to_mask(_strs(caps.get("inheritable"),
                                             "capabilities.inheritable"))
            proc.ambient = to_mask(_strs(caps.get("ambient"), "capabilities.ambient"))
        except ValueError as e:
            raise ConfigError(str(e)) from None
    for i, r in enumerate(_list(p.get("rlimits"), f"{where}.rlimits")):
        r = _obj(r, f"{where}.rlimits[{i}]")
        name = r.get("type")
        if name not in RLIMITS:
            raise ConfigError(f"failed to map rlimit name {name!r}")
        proc.rlimits.append((RLIMITS[name], _int(r.get("soft", 0), "rlimit soft"),
                             _int(r.get("hard", 0), "rlimit hard")))
    proc.no_new_privileges = bool(p.get("noNewPrivileges", False))
    proc.oom_score_adj = _opt_int(p, "oomScoreAdj", where)
    if proc.oom_score_adj is not None and not -1000 <= proc.oom_score_adj <= 1000:
        raise ConfigError("oomScoreAdj must be between -1000 and 1000")
    return proc


def _parse_resources(r: dict[str, Any], res: Resources) -> None:
    mem = _obj(r.get("memory"), "linux.resources.memory")
    res.memory_limit = _opt_int(mem, "limit", "memory")
    res.memory_reservation = _opt_int(mem, "reservation", "memory")
    res.memory_swap = _opt_int(mem, "swap", "memory")
    cpu = _obj(r.get("cpu"), "linux.resources.cpu")
    res.cpu_shares = _opt_int(cpu, "shares", "cpu")
    res.cpu_quota = _opt_int(cpu, "quota", "cpu")
    res.cpu_period = _opt_int(cpu, "period", "cpu")
    if cpu.get("cpus"):
        res.cpuset_cpus = str(cpu["cpus"])
    if cpu.get("mems"):
        res.cpuset_mems = str(cpu["mems"])
    pids = _obj(r.get("pids"), "linux.resources.pids")
    res.pids_limit = _opt_int(pids, "limit", "pids")
    for i, d in enumerate(_list(r.get("devices"), "linux.resources.devices")):
        d = _obj(d, f"linux.resources.devices[{i}]")
        t = d.get("type", "a") or "a"
        if t not in ("a", "b", "c"):
            raise ConfigError(f"invalid device type {t!r} in linux.resources.devices[{i}]")
        major = d.get("major")
        minor = d.get("minor")
        access = d.get("access", "rwm") or "rwm"
        if not isinstance(access, str) or set(access) - set("rwm"):
            raise ConfigError(f"invalid device access {access!r}")
        res.devices.append((bool(d.get("allow", False)), t,
                            -1 if major is None else _int(major, "major"),
                            -1 if minor is None else _int(minor, "minor"), access))


def parse_resources(r: Any) -> Resources:
    """Turn an OCI ``linux.resources`` object into ``Resources``."""
    res = Resources()
    _parse_resources(_obj(r, "linux.resources"), res)
    return res


# runc's AllowedDevices: appended after the spec's own rules, so every container can
# mknod (given CAP_MKNOD) and use the default device nodes and ptys.
DEFAULT_DEVICE_RULES: tuple[tuple[bool, str, int, int, str], ...] = (
    (True, "c", -1, -1, "m"), (True, "b", -1, -1, "m"),
    (True, "c", 1, 3, "rwm"), (True, "c", 1, 8, "rwm"), (True, "c", 1, 7, "rwm"),
    (True, "c", 5, 0, "rwm"), (True, "c", 1, 5, "rwm"), (True, "c", 1, 9, "rwm"),
    (True, "c", 136, -1, "rwm"), (True, "c", 5, 2, "rwm"), (True, "c", 10, 200, "rwm"),
)


def _id_maps(v: Any, where: str) -> list[tuple[int, int, int]]:
    out = []
    for i, m in enumerate(_list(v, where)):
        m = _obj(m, f"{where}[{i}]")
        out.append((_int(m.get("containerID"), "containerID"), _int(m.get("hostID"), "hostID"),
                    _int(m.get("size"), "size")))
    return out


def parse_hooks(v: Any) -> dict[str, list[Hook]]:
    """The spec's ``hooks`` object: each kind a list of {path, args, env, timeout}."""
    out: dict[str, list[Hook]] = {}
    for kind, items in _obj(v, "hooks").items():
        if kind not in HOOK_KINDS:
            raise ConfigError(f"unknown hook kind {kind!r}")
        hooks = []
        for i, h in enumerate(_list(items, f"hooks.{kind}")):
            h = _obj(h, f"hooks.{kind}[{i}]")
            path = h.get("path")
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError(f"hooks.{kind}[{i}].path must be an absolute path")
            timeout = _opt_int(h, "timeout", f"hooks.{kind}[{i}]")
            if timeout is not None and timeout <= 0:
                raise ConfigError(f"hooks.{kind}[{i}].timeout must be positive")
            hooks.append(Hook(path, _strs(h.get("args"), f"hooks.{kind}[{i}].args"),
                              _strs(h.get("env"), f"hooks.{kind}[{i}].env"), timeout))
        if hooks:
            out[kind] = hooks
    return out


def spec_to_config(spec: dict[str, Any], bundle: str, *, need_process: bool = True) -> Config:
    """Validate a decoded spec and build the ``Config`` for the bundle directory."""
    cfg = Config()
    cfg.bundle = os.path.abspath(bundle)
    ver = spec.get("ociVersion")
    if not isinstance(ver, str) or not ver:
        raise ConfigError("ociVersion must be a non-empty string")
    cfg.oci_version = ver
    root = _obj(spec.get("root"), "root")
    rpath = root.get("path")
    if not isinstance(rpath, str) or not rpath:
        raise ConfigError("root.path must be set")
    cfg.rootfs = os.path.normpath(os.path.join(cfg.bundle, rpath))
    if not os.path.isdir(cfg.rootfs):
        raise ConfigError(f"rootfs ({cfg.rootfs}) does not exist")
    cfg.root_readonly = bool(root.get("readonly", False))
    if "process" in spec or need_process:
        if spec.get("process") is None:
            raise ConfigError("process must be set")
        cfg.process = parse_process(spec.get("process"))
    hn = spec.get("hostname")
    if hn is not None and not isinstance(hn, str):
        raise ConfigError("hostname must be a string")
    cfg.hostname = hn or None
    dn = spec.get("domainname")
    cfg.domainname = dn if isinstance(dn, str) and dn else None
    for i, m in enumerate(_list(spec.get("mounts"), "mounts")):
        m = _obj(m, f"mounts[{i}]")
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest.startswith("/"):
            raise ConfigError(f"mounts[{i}].destination {dest!r} must be an absolute path")
        flags, prop, data = parse_mount_options(_strs(m.get("options"), f"mounts[{i}].options"))
        cfg.mounts.append(Mount(os.path.normpath(dest), str(m.get("type") or ""),
                                str(m.get("source") or ""), flags, prop, data))
    cfg.hooks = parse_hooks(spec.get("hooks"))
    a = _obj(spec.get("annotations"), "annotations")
    cfg.annotations = {str(k): str(v) for k, v in a.items()}

    linux = _obj(spec.get("linux"), "linux")
    seen: set[str] = set()
    for i, ns in enumerate(_list(linux.get("namespaces"), "linux.namespaces")):
        ns = _obj(ns, f"linux.namespaces[{i}]")
        t = ns.get("type")
        if t not in NAMESPACE_FLAGS:
            raise ConfigError(f"namespace type {t!r} is not supported")
        if t in seen:
            raise ConfigError(f"duplicate namespace type {t!r}")
        seen.add(t)
        p = ns.get("path") or ""
        if p and not os.path.exists(p):
            raise ConfigError(f"namespace {t} path {p}: no such file or directory")
        cfg.namespaces.append((t, p))
    cfg.uid_mappings = _id_maps(linux.get("uidMappings"), "linux.uidMappings")
    cfg.gid_mappings = _id_maps(linux.get("gidMappings"), "linux.gidMappings")
    wants_user, user_path = cfg.namespace("user")
    if wants_user and not user_path and (not cfg.uid_mappings or not cfg.gid_mappings):
        raise ConfigError("user namespaces enabled, but no uid/gid mappings found")
    if not wants_user and (cfg.uid_mappings or cfg.gid_mappings):
        raise ConfigError("uid/gid mappings given, but no user namespace is requested")
    if cfg.hostname and "uts" not in seen:
        raise ConfigError("unable to set hostname without a private UTS namespace")
    cfg.masked_paths = _strs(linux.get("maskedPaths"), "linux.maskedPaths")
    cfg.readonly_paths = _strs(linux.get("readonlyPaths"), "linux.readonlyPaths")
    rp = linux.get("rootfsPropagation")
    if rp:
        if rp not in PROPAGATION:
            raise ConfigError(f"rootfsPropagation {rp!r} is not a valid propagation")
        cfg.rootfs_propagation = PROPAGATION[rp]
    cp = linux.get("cgroupsPath") or ""
    if not isinstance(cp, str):
        raise ConfigError("linux.cgroupsPath must be a string")
    cfg.cgroups_path = cp
    _parse_resources(_obj(linux.get("resources"), "linux.resources"), cfg.resources)
    cfg.resources.devices.extend(DEFAULT_DEVICE_RULES)
    sysctl = _obj(linux.get("sysctl"), "linux.sysctl")
    cfg.sysctl = {str(k): str(v) for k, v in sysctl.items()}
    for i, d in enumerate(_list(linux.get("devices"), "linux.devices")):
        d = _obj(d, f"linux.devices[{i}]")
        if not isinstance(d.get("path"), str) or not d["path"].startswith("/dev/"):
            raise ConfigError(f"linux.devices[{i}].path must be under /dev")
        cfg.devices_extra.append(d)
    sec = linux.get("seccomp")
    cfg.seccomp = _obj(sec, "linux.seccomp") if sec else None
    return cfg
