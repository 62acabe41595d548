"""What to tell CRIU about a container: runc's Checkpoint and Restore, in Python.

This module decides; criu.py runs CRIU.  The request fields mirror
libcontainer/container_linux.go of runc 1.1.5 (Checkpoint, Restore,
criuApplyCgroups, criuNotifications):

* dump: ``root`` = the rootfs, ``manage_cgroups``, ``notify_scripts``,
  ``orphan_pts_master``, the init pid, log ``dump.log`` at level 4, runc's CRIU
  config file, ``freeze_cgroup`` = the freezer cgroup, external net/pid
  namespaces joined by path (``--external net[<inode>]:extRootNetNS``),
  ``ext_mnt`` for bind mounts, v1 cgroup bind mounts, masked files (→
  /dev/null) and device nodes, ``descriptors.json`` (the init's stdio) in the
  image; ``parent_img`` + ``track_mem`` for iterative dumps.
* restore: the rootfs bind-mounted at ``<state dir>/criu-root`` (CRIU wants a
  mount point whose parent is not overmounted), ``rst_sibling``,
  ``evasive_devices``, ``empty_ns`` = CLONE_NEWNET (runc does not manage
  network devices), mount points created and bind mounts pre-mounted as a
  normal create would, ``ext_mnt`` key → host source, ``inherit_fd`` for the
  namespaces joined by path and for stdio pipes recorded in descriptors.json,
  ``join_ns`` for other namespaces, CRIU moved into the container's cgroups
  before the request and ``cg_root`` set from them (v1).

It reads the container from its state.json — pyd-runc's (libcontainer/
container.py) or runc's own — so it needs no hook in the core runtime.
"""

from __future__ import annotations

import os
import stat

from pyd_runtime import fastjson
from pyd_runtime.criu.criu import (
    Criu,
    CriuError,
    LazyPagesDaemon,
    Notification,
    TlsFiles,
    log_errors,
)
from pyd_runtime.criu.kernel import MS_BIND, MS_REC, kill_and_reap, mount, send_console, umount
from pyd_runtime.criu.rpc import CgMode, CriuOpts, CriuReq, PageServerInfo, ReqType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Paths are str here, not pathlib.Path (which imports re, fnmatch, urllib...): this
# module is on `pyd-runc restore`'s start path.  Callers may pass any os.PathLike.

CLONE_NEWNET = 0x40000000
DESCRIPTORS_FILE = "descriptors.json"
#: written into the container's state directory when the lazy transfer failed
LAZY_PAGES_FAILED = "lazy-pages.failed"
RUNC_CRIU_CONFIG = "/etc/criu/runc.conf"

# OCI namespace type → CRIU's name for it (runc's configs.NsName)
NS_NAMES = {"network": "net", "pid": "pid", "mount": "mnt", "ipc": "ipc", "uts": "uts",
            "user": "user", "cgroup": "cgroup", "time": "time"}
# runc's spec-default devices, each made an external mount for CRIU
DEFAULT_DEVICES = ("/dev/null", "/dev/random", "/dev/full", "/dev/tty", "/dev/zero",
                   "/dev/urandom")
CG_MODES = {"soft": CgMode.SOFT, "full": CgMode.FULL, "strict": CgMode.STRICT,
            "ignore": CgMode.IGNORE}



class CheckpointError(Exception):
    """Checkpoint or restore cannot go on; the message is for the user."""


class MountSpec:
    __slots__ = ("bind", "destination", "source", "type")

    def __init__(self, destination: str, type: str, source: str, bind: bool) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.bind = bind


class ContainerInfo:
    """The parts of a container CRIU needs, from a state.json.

    (Plain classes, not dataclasses, in this module: pyd-runc restore's start-up
    time is part of every restore.)
    """

    def __init__(
        self,
        id: str,
        state_dir: str,
        rootfs: str,
        init_pid: int = 0,
        mounts: list[MountSpec] | None = None,
        masked_paths: list[str] | None = None,
        device_paths: list[str] | None = None,
        namespaces: dict[str, str] | None = None,
        cgroup_paths: dict[str, str] | None = None,
        cgroup_v2: bool = False,
        external_descriptors: list[str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        self.id = id
        self.state_dir = os.fspath(state_dir)
        self.rootfs = os.fspath(rootfs)
        self.init_pid = init_pid
        self.mounts = mounts or []
        self.masked_paths = masked_paths or []
        self.device_paths = list(DEFAULT_DEVICES) if device_paths is None else device_paths
        #: OCI namespace type → path it is joined by ("" for a new namespace)
        self.namespaces = namespaces or {}
        self.cgroup_paths = cgroup_paths or {}
        self.cgroup_v2 = cgroup_v2
        self.external_descriptors = external_descriptors or []
        self.annotations = annotations or {}

    @classmethod
    def from_state_dir(cls, state_dir: str) -> ContainerInfo:
        """Read ``state_dir/state.json``, written by pyd-runc or by runc."""
        state_dir = os.fspath(state_dir)
        try:
            with open(os.path.join(state_dir, "state.json"), "rb") as f:
                state = fastjson.loads(f.read())
        except FileNotFoundError:
            raise CheckpointError("container does not exist") from None
        return cls.from_state(state, state_dir)

    @classmethod
    def from_state(cls, state: dict[str, Any], state_dir: str) -> ContainerInfo:
        config = state.get("config") or {}
        if "rootfs" in config and "ociVersion" not in config:
            return cls._from_runc(state, config, state_dir)
        state_dir = os.fspath(state_dir)
        return cls.from_spec(config, state_dir,
                             state.get("id") or os.path.basename(state_dir),
                             rootfs=state.get("rootfs"),
                             init_pid=int(state.get("init_process_pid") or 0),
                             cgroup_paths=dict(state.get("cgroup_paths") or {}),
                             cgroup_v2=int(state.get("cgroup_version") or 1) == 2,
                             external_descriptors=list(state.get("external_descriptors") or []),
                             bundle=state.get("bundle"))

    @classmethod
    def from_spec(
        cls,
        spec: dict[str, Any],
        state_dir: str,
        container_id: str,
        *,
        rootfs: str | None = None,
        bundle: str | None = None,
        init_pid: int = 0,
        cgroup_paths: dict[str, str] | None = None,
        cgroup_v2: bool = False,
        external_descriptors: list[str] | None = None,
    ) -> ContainerInfo:
        """Build from an OCI config.json (as decoded) and what the runtime recorded."""
        root = (spec.get("root") or {}).get("path", "rootfs")
        if rootfs is None:
            rootfs = root if os.path.isabs(root) else os.path.join(bundle or ".", root)
        linux = spec.get("linux") or {}
        mounts = []
        for m in spec.get("mounts") or []:
            opts = m.get("options") or []
            bind = m.get("type") == "bind" or "bind" in opts or "rbind" in opts
            mounts.append(MountSpec(m["destination"], m.get("type") or "", m.get("source") or "",
                                    bind))
        devices = list(DEFAULT_DEVICES)
        for d in linux.get("devices") or []:
            if d.get("path") and d["path"] not in devices:
                devices.append(d["path"])
        return cls(
            id=container_id,
            state_dir=state_dir,
            rootfs=os.path.realpath(rootfs),
            init_pid=init_pid,
            mounts=mounts,
            masked_paths=list(linux.get("maskedPaths") or []),
            device_paths=devices,
            namespaces={n["type"]: n.get("path") or "" for n in linux.get("namespaces") or []},
            cgroup_paths=cgroup_paths or {},
            cgroup_v2=cgroup_v2,
            external_descriptors=external_descriptors or [],
            annotations=dict(spec.get("annotations") or {}),
        )

    @classmethod
    def _from_runc(cls, state: dict[str, Any], config: dict[str, Any],
                   state_dir: str) -> ContainerInfo:
        """runc 1.1's state.json: libcontainer's configs.Config, not the OCI spec."""
        ns_types = {"NEWNET": "network", "NEWPID": "pid", "NEWNS": "mount", "NEWIPC": "ipc",
                    "NEWUTS": "uts", "NEWUSER": "user", "NEWCGROUP": "cgroup"}
        mounts = [MountSpec(m["destination"], m.get("device") or "", m.get("source") or "",
                            m.get("device") == "bind") for m in config.get("mounts") or []]
        # runc keeps annotations as "key=value" labels next to "bundle=<path>"
        labels = dict(x.split("=", 1) for x in config.get("labels") or [] if "=" in x)
        annotations = {k: v for k, v in labels.items() if k != "bundle"}
        return cls(
            id=state.get("id") or os.path.basename(state_dir),
            state_dir=state_dir,
            rootfs=config["rootfs"],
            init_pid=int(state.get("init_process_pid") or 0),
            mounts=mounts,
            masked_paths=list(config.get("mask_paths") or []),
            device_paths=[d["path"] for d in config.get("devices") or [] if d.get("path")],
            namespaces={ns_types.get(n["type"], n["type"]): n.get("path") or ""
                        for n in config.get("namespaces") or []},
            cgroup_paths=dict(state.get("cgroup_paths") or {}),
            cgroup_v2="" in (state.get("cgroup_paths") or {}),
            external_descriptors=list(state.get("external_descriptors") or []),
            annotations=annotations,
        )

    def freezer_path(self) -> str | None:
        if self.cgroup_v2:
            return self.cgroup_paths.get("")
        return self.cgroup_paths.get("freezer")

    def has_cgroupns(self) -> bool:
        return "cgroup" in self.namespaces


# -- options -------------------------------------------------------------------


class CheckpointOptions:
    """runc checkpoint's flags."""

    def __init__(
        self,
        image_path: str,
        work_path: str | None = None,
        parent_path: str | None = None,
        leave_running: bool = False,
        tcp_established: bool = False,
        ext_unix_sk: bool = False,
        shell_job: bool = False,
        file_locks: bool = False,
        pre_dump: bool = False,
        lazy_pages: bool = False,
        status_fd: int = -1,
        page_server: tuple[str, int] | None = None,
        manage_cgroups_mode: int | None = None,
        empty_ns: int = CLONE_NEWNET,
        auto_dedup: bool = False,
    ) -> None:
        self.image_path = os.fspath(image_path)
        self.work_path = None if work_path is None else os.fspath(work_path)
        self.parent_path = parent_path
        self.leave_running = leave_running
        self.tcp_established = tcp_established
        self.ext_unix_sk = ext_unix_sk
        self.shell_job = shell_job
        self.file_locks = file_locks
        self.pre_dump = pre_dump
        self.lazy_pages = lazy_pages
        self.status_fd = status_fd
        self.page_server = page_server
        self.manage_cgroups_mode = manage_cgroups_mode
        self.empty_ns = empty_ns
        self.auto_dedup = auto_dedup


class RestoreOptions:
    """runc restore's flags, plus pyd's --page-server (fetch lazy pages from there)."""

    def __init__(
        self,
        image_path: str,
        work_path: str | None = None,
        tcp_established: bool = False,
        ext_unix_sk: bool = False,
        shell_job: bool = False,
        file_locks: bool = False,
        manage_cgroups_mode: int | None = None,
        empty_ns: int = CLONE_NEWNET,
        auto_dedup: bool = False,
        lazy_pages: bool = False,
        page_server: tuple[str, int] | None = None,
        lsm_profile: str | None = None,
        lsm_mount_context: str | None = None,
        console_socket: str | None = None,
        page_server_tls: TlsFiles | None = None,
    ) -> None:
        self.image_path = os.fspath(image_path)
        self.work_path = None if work_path is None else os.fspath(work_path)
        self.tcp_established = tcp_established
        self.ext_unix_sk = ext_unix_sk
        self.shell_job = shell_job
        self.file_locks = file_locks
        self.manage_cgroups_mode = manage_cgroups_mode
        self.empty_ns = empty_ns
        self.auto_dedup = auto_dedup
        self.lazy_pages = lazy_pages
        self.page_server = page_server
        self.lsm_profile = lsm_profile
        self.lsm_mount_context = lsm_mount_context
        self.console_socket = console_socket
        self.page_server_tls = page_server_tls


def parse_host_port(value: str) -> tuple[str, int]:
    """ADDRESS:PORT (IPv6 in brackets) as runc's --page-server wants it."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port:
        raise CheckpointError("Use --page-server ADDRESS:PORT to specify page server")
    try:
        return host, int(port)
    except ValueError:
        raise CheckpointError("Invalid port number") from None


def parse_cg_mode(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return CG_MODES[value]
    except KeyError:
        raise CheckpointError("Invalid manage cgroups mode") from None


def _config_file(c: ContainerInfo) -> str | None:
    """runc's rule: annotation org.criu.config names the file ("" = none)."""
    if "org.criu.config" in c.annotations:
        return c.annotations["org.criu.config"] or None
    return RUNC_CRIU_CONFIG


def _secure_dest(c: ContainerInfo, dest: str) -> str:
    """A mount destination as CRIU sees it: inside the rootfs, symlinks resolved there."""
    if dest.startswith(c.rootfs):
        dest = dest[len(c.rootfs):] or "/"
    full = _secure_join(c.rootfs, dest)
    return "/" + os.path.relpath(full, c.rootfs) if full != c.rootfs else "/"


def _secure_join(root: str, unsafe: str) -> str:
    """Join `unsafe` to `root`, resolving symlinks as if root were / (securejoin)."""
    parts = [p for p in unsafe.split("/") if p and p != "."]
    current = str(root)
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = str(root) if current == str(root) else os.path.dirname(current)
            if len(current) < len(str(root)):
                current = str(root)
            continue
        nxt = os.path.join(current, part)
        if os.path.islink(nxt) and hops < 255:
            hops += 1
            target = os.readlink(nxt)
            if target.startswith("/"):
                current = str(root)
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        current = nxt
    return current


def _cgroup_binds(c: ContainerInfo, mount_dest: str) -> list[tuple[str, str]]:
    """(destination, host source) of the bind mounts a v1 cgroup mount becomes."""
    out = []
    for key, path in sorted(c.cgroup_paths.items()):
        if not key:
            continue
        mp = _mountpoint_of(path)
        base = os.path.basename(mp) if mp else key.replace("name=", "")
        out.append((os.path.join(mount_dest, base), path))
    return out


def _mountpoint_of(path: str) -> str | None:
    best = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and (
                    best is None or len(mp) > len(best)):
                best = mp
    return best


def dump_request(c: ContainerInfo, o: CheckpointOptions, images_fd: int,
                 work_fd: int | None, criu_version: int) -> CriuReq:
    """The DUMP (or PRE_DUMP) request runc would send for this container."""
    opts = CriuOpts(
        images_dir_fd=images_fd, log_level=4, log_file="dump.log", root=str(c.rootfs),
        manage_cgroups=True, notify_scripts=True, pid=c.init_pid, shell_job=o.shell_job,
        leave_running=o.leave_running, tcp_established=o.tcp_established,
        ext_unix_sk=o.ext_unix_sk, file_locks=o.file_locks, empty_ns=o.empty_ns,
        orphan_pts_master=True, auto_dedup=o.auto_dedup, lazy_pages=o.lazy_pages,
        work_dir_fd=work_fd, config_file=_config_file(c),
    )
    for t, key in (("network", "extRootNetNS"), ("pid", "extRootPidNS")):
        path = c.namespaces.get(t)
        if path:
            opts.external.append(f"{NS_NAMES[t]}[{os.stat(path).st_ino}]:{key}")
    freezer = c.freezer_path()
    if freezer:
        opts.freeze_cgroup = freezer
    if o.page_server is not None:
        opts.ps = PageServerInfo(address=o.page_server[0], port=o.page_server[1])
    if o.parent_path:
        opts.parent_img = o.parent_path
        opts.track_mem = True
    if o.manage_cgroups_mode is not None:
        opts.manage_cgroups_mode = o.manage_cgroups_mode
    if o.lazy_pages and o.status_fd >= 0 and criu_version < 31500:
        opts.status_fd = o.status_fd  # newer CRIU reports "status-ready" instead
    if not o.pre_dump:
        for m in c.mounts:
            if m.bind:
                d = _secure_dest(c, m.destination)
                opts.ext_mnt.append((d, d))
            elif m.type == "cgroup" and not c.cgroup_v2 and not c.has_cgroupns():
                for dest, _src in _cgroup_binds(c, m.destination):
                    opts.ext_mnt.append((dest, dest))
        for path in c.masked_paths:
            try:
                st = os.stat(f"/proc/{c.init_pid}/root/{path}")
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                opts.ext_mnt.append((path, "/dev/null"))
        for dev in c.device_paths:
            d = _secure_dest(c, dev)
            opts.ext_mnt.append((d, d))
    return CriuReq(ReqType.PRE_DUMP if o.pre_dump else ReqType.DUMP, opts)


def _stdio_descriptors(pid: int) -> list[str]:
    out = []
    for fd in range(3):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            out.append("/dev/null")
    return out


def _mkdir(path: str, mode: int) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def checkpoint(c: ContainerInfo, o: CheckpointOptions, criu: Criu | None = None) -> None:
    """Dump the container's processes into `o.image_path` (runc's Checkpoint)."""
    criu = criu or Criu()
    if not c.init_pid:
        raise CheckpointError("container is not running")
    _mkdir(o.image_path, 0o700)
    if o.parent_path:
        if os.path.isabs(o.parent_path):
            raise CheckpointError("--parent-path must be relative")
        parent = os.path.join(o.image_path, o.parent_path)
        if not os.path.isdir(parent):
            raise CheckpointError(f"invalid --parent-path: {parent}")
    if o.pre_dump and not criu.features(mem_track=True).get("mem_track"):
        raise CheckpointError("pre-dump is not possible: CRIU reports no memory tracking "
                              "(soft-dirty) on this kernel")
    if o.lazy_pages and not criu.features(lazy_pages=True).get("lazy_pages"):
        raise CheckpointError("lazy pages are not supported by this CRIU or kernel")
    images_fd = os.open(o.image_path, os.O_RDONLY | os.O_DIRECTORY)
    work_fd = None
    try:
        if o.work_path is not None:
            _mkdir(o.work_path, 0o700)
            work_fd = os.open(o.work_path, os.O_RDONLY | os.O_DIRECTORY)
        req = dump_request(c, o, images_fd, work_fd, criu.version_number())
        if not o.pre_dump:
            descriptors = c.external_descriptors or _stdio_descriptors(c.init_pid)
            path = os.path.join(o.image_path, DESCRIPTORS_FILE)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with open(fd, "w") as f:
                f.write(fastjson.dumps(descriptors))

        def notify(n: Notification) -> None:
            if n.script == "post-dump":
                open(os.path.join(c.state_dir, "checkpoint"), "a").close()
            elif n.script == "status-ready" and o.status_fd >= 0:
                for op in (lambda: os.write(o.status_fd, b"\0"), lambda: os.close(o.status_fd)):
                    try:
                        op()
                    except OSError:
                        pass
                o.status_fd = -1

        log = os.path.join(o.work_path or o.image_path, "dump.log")
        criu.swrk(req, on_notify=notify, log_path=log)
    finally:
        os.close(images_fd)
        if work_fd is not None:
            os.close(work_fd)


# -- restore -------------------------------------------------------------------


def _restore_mounts(c: ContainerInfo) -> list[str]:
    """Create mount points in the rootfs and pre-mount bind mounts, as create would.

    Returns the bind mounts made, for `umount` once CRIU is done.
    """
    tmpfs = [m.destination for m in c.mounts if m.type == "tmpfs"]
    mounted: list[str] = []
    try:
        for m in c.mounts:
            if any(m.destination.startswith(t + "/") for t in tmpfs) or m.type == "cgroup":
                continue
            dest = _secure_join(c.rootfs, m.destination)
            if m.bind:
                if os.path.isdir(m.source):
                    os.makedirs(dest, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    if not os.path.exists(dest):
                        open(dest, "a").close()
                mount(m.source, dest, MS_BIND | MS_REC)
                mounted.append(dest)
            else:
                os.makedirs(dest, exist_ok=True)
    except BaseException:
        for dest in reversed(mounted):
            umount(dest)
        raise
    return mounted


def restore_request(c: ContainerInfo, o: RestoreOptions, images_fd: int, work_fd: int | None,
                    root: str, ns_fds: dict[str, int], pipe_keys: list[tuple[str, int]],
                    ) -> CriuReq:
    """The RESTORE request runc would send (ns_fds: namespace type → fd passed to CRIU)."""
    opts = CriuOpts(
        images_dir_fd=images_fd, evasive_devices=True, log_level=4, log_file="restore.log",
        rst_sibling=True, root=root, manage_cgroups=True, notify_scripts=True,
        shell_job=o.shell_job, ext_unix_sk=o.ext_unix_sk, tcp_established=o.tcp_established,
        file_locks=o.file_locks, empty_ns=o.empty_ns, orphan_pts_master=True,
        auto_dedup=o.auto_dedup, lazy_pages=o.lazy_pages, work_dir_fd=work_fd,
        config_file=_config_file(c), lsm_profile=o.lsm_profile,
        lsm_mount_context=o.lsm_mount_context,
    )
    for t, path in c.namespaces.items():
        if t in ("network", "pid"):
            if path:
                key = "extRootNetNS" if t == "network" else "extRootPidNS"
                opts.inherit_fd.append((key, ns_fds[t]))
        elif path:
            if t == "cgroup":
                raise CheckpointError(f"Do not know how to handle namespace {t}")
            opts.join_ns.append((NS_NAMES.get(t, t), path))
    for m in c.mounts:
        if m.bind:
            opts.ext_mnt.append((_secure_dest(c, m.destination), m.source))
        elif m.type == "cgroup" and not c.cgroup_v2 and not c.has_cgroupns():
            opts.ext_mnt.extend(_cgroup_binds(c, m.destination))
    if c.masked_paths:
        opts.ext_mnt.append(("/dev/null", "/dev/null"))
    for dev in c.device_paths:
        opts.ext_mnt.append((_secure_dest(c, dev), dev))
    if o.manage_cgroups_mode is not None:
        opts.manage_cgroups_mode = o.manage_cgroups_mode
    opts.inherit_fd.extend(pipe_keys)
    return CriuReq(ReqType.RESTORE, opts)


def _cg_roots(pid: int) -> list[tuple[str | None, str]]:
    """cg_root entries from the v1 cgroups `pid` is in (runc's criuApplyCgroups)."""
    out: list[tuple[str | None, str]] = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            if not ctrls:
                continue
            for ctrl in ctrls.split(","):
                out.append((ctrl, path))
    return out


class RestoreResult:
    """The restored init's pid, and the lazy-pages daemon (guardian) if one was started."""

    __slots__ = ("lazy_pages", "pid")

    def __init__(self, pid: int, lazy_pages: LazyPagesDaemon | None = None) -> None:
        self.pid = pid
        self.lazy_pages = lazy_pages


def restore(
    c: ContainerInfo,
    o: RestoreOptions,
    *,
    criu: Criu | None = None,
    apply_cgroups: Callable[[int], None] | None = None,
    on_restored: Callable[[int], None] | None = None,
    stdio: tuple[int | None, int | None, int | None] = (None, None, None),
) -> RestoreResult:
    """Restore the container's processes from `o.image_path` (runc's Restore).

    `apply_cgroups(pid)` moves CRIU into the container's cgroups (and sets
    their limits) before the request, so restored tasks land there;
    `on_restored(pid)` runs at CRIU's "post-restore", before the tasks resume,
    to record the new init pid.  With `o.lazy_pages` and `o.page_server`,
    `criu lazy-pages --page-server` is started first (and left running to
    finish the background transfer); with `o.lazy_pages` alone a lazy-pages
    daemon must already serve `o.work_path`, as with runc.
    """
    criu = criu or Criu()
    if not os.path.exists(os.path.join(o.image_path, "inventory.img")):
        raise CheckpointError(f"{o.image_path}: no checkpoint image here")
    work = o.work_path or o.image_path
    _mkdir(work, 0o700)
    root = os.path.join(c.state_dir, "criu-root")
    daemon: LazyPagesDaemon | None = None
    restored_pid: list[int] = []
    # what to undo, last first: fds to close, mounts, the root directory
    fds: list[int] = []
    mounts: list[str] = []
    os.makedirs(root, mode=0o755, exist_ok=True)
    try:
        real_root = os.path.realpath(root)
        mount(c.rootfs, real_root, MS_BIND | MS_REC)
        mounts.append(real_root)
        images_fd = os.open(o.image_path, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(images_fd)
        work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(work_fd)
        ns_fds: dict[str, int] = {}
        for t in ("network", "pid"):
            path = c.namespaces.get(t)
            if path:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    raise CheckpointError(
                        f"Requested network namespace {path} does not exist") from None
                fds.append(fd)
                ns_fds[t] = fd
        pipe_keys = _pipe_inherit(o.image_path)
        req = restore_request(c, o, images_fd, work_fd, real_root, ns_fds, pipe_keys)
        mounts[:0] = _restore_mounts(c)
        if o.lazy_pages and o.page_server is not None:
            daemon = criu.start_lazy_pages(o.image_path, work, page_server=o.page_server,
                                           guard=os.path.join(c.state_dir, LAZY_PAGES_FAILED),
                                           tls=o.page_server_tls)

        def on_start(pid: int, r: CriuReq) -> None:
            if apply_cgroups is not None:
                apply_cgroups(pid)
                if not c.cgroup_v2 and r.opts is not None:
                    r.opts.cg_root.extend(_cg_roots(pid))

        def notify(n: Notification) -> None:
            if n.script == "post-restore" and n.pid:
                restored_pid.append(n.pid)
                if on_restored is not None:
                    on_restored(n.pid)
            elif n.script == "orphan-pts-master" and n.fds and o.console_socket:
                send_console(o.console_socket, n.fds[0])

        try:
            res = criu.swrk(req, extra_files=tuple(ns_fds.values()), stdio=stdio,
                            on_start=on_start, on_notify=notify,
                            log_path=os.path.join(work, "restore.log"))
        except BaseException as e:
            if daemon is not None:
                daemon.stop()
                reason = log_errors(daemon.log_path)
                if reason and isinstance(e, CriuError):
                    # the restore's own first error is rarely the cause: say what
                    # lazy-pages (the page-server side) reported
                    raise CriuError(f"criu lazy-pages failed: {reason}",
                                    daemon.log_path) from e
            raise
        pid = res.resp.restore_pid or (restored_pid[0] if restored_pid else 0)
        if not pid:
            if daemon is not None:
                daemon.stop()
            raise CriuError("criu restored no process", os.path.join(work, "restore.log"))
        if daemon is not None:
            daemon.guard_container(pid)
        return RestoreResult(pid, daemon)
    finally:
        for fd in fds:
            os.close(fd)
        for dest in reversed(mounts):
            umount(dest)
        try:
            os.rmdir(root)
        except OSError:
            pass


def _pipe_inherit(image: str) -> list[tuple[str, int]]:
    """inherit_fd entries for the stdio pipes recorded at checkpoint (descriptors.json)."""
    try:
        with open(os.path.join(image, DESCRIPTORS_FILE), "rb") as f:
            fds = fastjson.loads(f.read())
    except (FileNotFoundError, ValueError):
        return []
    out = []
    for i, name in enumerate(fds[:3]):
        if isinstance(name, str) and "pipe:" in name:
            out.append((name, i))  # CRIU's own fd i is the restored stdio
    return out


__all__ = [
    "CheckpointError",
    "CheckpointOptions",
    "ContainerInfo",
    "CriuError",
    "RestoreOptions",
    "RestoreResult",
    "checkpoint",
    "dump_request",
    "kill_and_reap",
    "parse_cg_mode",
    "parse_host_port",
    "restore",
    "restore_request",
]
