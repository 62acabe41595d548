"""CRIU's RPC messages (images/rpc.proto of CRIU 4.1.1), encoded by hand.

Only the fields pyd sets or reads are here; the numbers are rpc.proto's.
The protocol: one CriuReq per SOCK_SEQPACKET message to `criu swrk <fd>`,
answered by CriuResp messages; NOTIFY responses (when notify_scripts is
set) must each be acknowledged with a NOTIFY request whose notify_success
is true, until the final response of the request's own type arrives.
"""

from __future__ import annotations

from pyd_runtime.criu.protowire import Message, as_int32, decode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


# Plain int constants, not IntEnum: ``enum`` costs start-up time on every restore.
class ReqType:
    """criu_req_type."""

    EMPTY = 0
    DUMP = 1
    RESTORE = 2
    CHECK = 3
    PRE_DUMP = 4
    PAGE_SERVER = 5
    NOTIFY = 6
    CPUINFO_DUMP = 7
    CPUINFO_CHECK = 8
    FEATURE_CHECK = 9
    VERSION = 10
    WAIT_PID = 11
    PAGE_SERVER_CHLD = 12
    SINGLE_PRE_DUMP = 13


def type_name(value: int) -> str:
    """The rpc.proto name of a request type (for messages)."""
    for name, v in vars(ReqType).items():
        if v == value and name.isupper():
            return name
    return str(value)


class CgMode:
    """criu_cg_mode: how CRIU treats cgroups (runc's --manage-cgroups-mode)."""

    IGNORE = 0
    CG_NONE = 1
    PROPS = 2
    SOFT = 3
    FULL = 4
    STRICT = 5
    DEFAULT = 6


class PageServerInfo:
    __slots__ = ("address", "fd", "pid", "port")

    def __init__(self, address: str | None = None, port: int | None = None,
                 pid: int | None = None, fd: int | None = None) -> None:
        self.address = address
        self.port = port
        self.pid = pid
        self.fd = fd

    def message(self) -> Message:
        return (Message().string(1, self.address).varint(2, self.port).varint(3, self.pid)
                .varint(4, self.fd))


class CriuOpts:
    """criu_opts: every option pyd passes, named as in rpc.proto.

    Construct with keyword arguments named after the fields below (a plain class,
    not a dataclass: pyd-runc restore's start-up time counts).
    """

    images_dir_fd: int = -1
    images_dir: str | None = None
    pid: int | None = None
    leave_running: bool | None = None
    ext_unix_sk: bool | None = None
    tcp_established: bool | None = None
    evasive_devices: bool | None = None
    shell_job: bool | None = None
    file_locks: bool | None = None
    log_level: int | None = None
    log_file: str | None = None
    ps: PageServerInfo | None = None
    notify_scripts: bool | None = None
    root: str | None = None
    parent_img: str | None = None
    track_mem: bool | None = None
    auto_dedup: bool | None = None
    work_dir_fd: int | None = None
    link_remap: bool | None = None
    veths: list[tuple[str, str]]  # (if_in, if_out)
    ext_mnt: list[tuple[str, str]]  # (key, val)
    manage_cgroups: bool | None = None
    cg_root: list[tuple[str | None, str]]  # (ctrl, path)
    rst_sibling: bool | None = None
    inherit_fd: list[tuple[str, int]]  # (key, fd)
    skip_mnt: list[str]
    enable_fs: list[str]
    manage_cgroups_mode: int | None = None  # a CgMode value
    external: list[str]
    empty_ns: int | None = None
    join_ns: list[tuple[str, str]]  # (ns, ns_file)
    freeze_cgroup: str | None = None
    timeout: int | None = None
    lazy_pages: bool | None = None
    status_fd: int | None = None
    orphan_pts_master: bool | None = None
    config_file: str | None = None
    tcp_close: bool | None = None
    lsm_profile: str | None = None
    lsm_mount_context: str | None = None

    _LISTS = ("veths", "ext_mnt", "cg_root", "inherit_fd", "skip_mnt", "enable_fs", "external",
              "join_ns")

    def __init__(self, **fields: Any) -> None:
        for name in self._LISTS:
            setattr(self, name, [])
        for name, value in fields.items():
            if name not in CriuOpts.__annotations__:
                raise TypeError(f"CriuOpts has no field {name!r}")
            setattr(self, name, value)

    def message(self) -> Message:
        m = Message().varint(1, self.images_dir_fd).string(68, self.images_dir)
        m.varint(2, self.pid).varint(3, self.leave_running).varint(4, self.ext_unix_sk)
        m.varint(5, self.tcp_established).varint(6, self.evasive_devices)
        m.varint(7, self.shell_job).varint(8, self.file_locks).varint(9, self.log_level)
        m.string(10, self.log_file)
        m.message(11, None if self.ps is None else self.ps.message())
        m.varint(12, self.notify_scripts).string(13, self.root).string(14, self.parent_img)
        m.varint(15, self.track_mem).varint(16, self.auto_dedup).varint(17, self.work_dir_fd)
        m.varint(18, self.link_remap)
        for if_in, if_out in self.veths:
            m.message(19, Message().string(1, if_in).string(2, if_out))
        for key, val in self.ext_mnt:
            m.message(23, Message().string(1, key).string(2, val))
        m.varint(24, self.manage_cgroups)
        for ctrl, path in self.cg_root:
            m.message(25, Message().string(1, ctrl).string(2, path))
        m.varint(26, self.rst_sibling)
        for key, fd in self.inherit_fd:
            m.message(27, Message().string(1, key).varint(2, fd))
        for s in self.skip_mnt:
            m.string(31, s)
        for s in self.enable_fs:
            m.string(32, s)
        m.varint(34, self.manage_cgroups_mode)
        for s in self.external:
            m.string(37, s)
        m.varint(38, self.empty_ns)
        for ns, ns_file in self.join_ns:
            m.message(39, Message().string(1, ns).string(2, ns_file))
        m.string(44, self.freeze_cgroup).varint(45, self.timeout).varint(48, self.lazy_pages)
        m.varint(49, self.status_fd).varint(50, self.orphan_pts_master)
        m.string(51, self.config_file).varint(52, self.tcp_close).string(53, self.lsm_profile)
        m.string(63, self.lsm_mount_context)
        return m


class CriuReq:
    __slots__ = ("features_lazy_pages", "features_mem_track", "keep_open", "notify_success",
                 "opts", "type")

    def __init__(self, type: int, opts: CriuOpts | None = None,
                 notify_success: bool | None = None, keep_open: bool | None = None,
                 features_mem_track: bool | None = None,
                 features_lazy_pages: bool | None = None) -> None:
        self.type = type
        self.opts = opts
        self.notify_success = notify_success
        self.keep_open = keep_open
        self.features_mem_track = features_mem_track
        self.features_lazy_pages = features_lazy_pages

    def encode(self) -> bytes:
        m = Message().varint(1, self.type)
        m.message(2, None if self.opts is None else self.opts.message())
        m.varint(3, self.notify_success).varint(4, self.keep_open)
        if self.features_mem_track is not None or self.features_lazy_pages is not None:
            m.message(5, Message().varint(1, self.features_mem_track)
                      .varint(2, self.features_lazy_pages))
        return m.encode()


class CriuResp:
    """criu_resp, flattened: the fields of its sub-messages pyd reads."""

    restored: bool = False  # criu_dump_resp.restored
    restore_pid: int | None = None
    notify_script: str | None = None
    notify_pid: int | None = None
    cr_errno: int | None = None
    cr_errmsg: str | None = None
    version: tuple[int, int, int] | None = None
    status: int | None = None

    def __init__(self, type: int, success: bool) -> None:
        self.type = type
        self.success = success
        self.features: dict[str, bool] = {}


def _first(fields: dict[int, list[int | bytes]], num: int) -> int | bytes | None:
    values = fields.get(num)
    return values[-1] if values else None


def _sub(fields: dict[int, list[int | bytes]], num: int) -> dict[int, list[int | bytes]]:
    raw = _first(fields, num)
    return decode(raw) if isinstance(raw, bytes) else {}


def _opt_int(fields: dict[int, list[int | bytes]], num: int) -> int | None:
    v = _first(fields, num)
    return as_int32(v) if isinstance(v, int) else None


def _opt_str(fields: dict[int, list[int | bytes]], num: int) -> str | None:
    v = _first(fields, num)
    return v.decode(errors="replace") if isinstance(v, bytes) else None


def decode_resp(raw: bytes) -> CriuResp:
    """Decode one criu_resp message."""
    f = decode(raw)
    type_ = _opt_int(f, 1) or 0
    resp = CriuResp(type_, bool(_first(f, 2)))
    dump = _sub(f, 3)
    resp.restored = bool(_first(dump, 1))
    resp.restore_pid = _opt_int(_sub(f, 4), 1)
    notify = _sub(f, 5)
    resp.notify_script = _opt_str(notify, 1)
    resp.notify_pid = _opt_int(notify, 2)
    resp.cr_errno = _opt_int(f, 7)
    feats = _sub(f, 8)
    for num, name in ((1, "mem_track"), (2, "lazy_pages"), (3, "pidfd_store")):
        if num in feats:
            resp.features[name] = bool(_first(feats, num))
    resp.cr_errmsg = _opt_str(f, 9)
    ver = _sub(f, 10)
    if ver:
        resp.version = (_opt_int(ver, 1) or 0, _opt_int(ver, 2) or 0, _opt_int(ver, 4) or 0)
    resp.status = _opt_int(f, 11)
    return resp
