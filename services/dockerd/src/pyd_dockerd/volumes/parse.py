"""`-v`/`--volume`, `--mount` and `--tmpfs` specs → mount points → OCI mount entries
(moby's volume/mounts linux parser, with its error messages, and the CSV parser of
docker/cli's opts/mount.go for `--mount`)."""

from __future__ import annotations

import csv
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from pyd_proto.errdefs import InvalidArgument

RW_MODES = ("rw", "ro")
LABEL_MODES = ("z", "Z")
PROPAGATION_MODES = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
COPY_MODES = ("nocopy",)
CONSISTENCY_MODES = ("consistent", "cached", "delegated")
DEFAULT_PROPAGATION = "rprivate"
# Docker's defaults for tmpfs mounts in containers.
TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev"]


@dataclass
class MountSpec:
    """mount.Mount: what the user asked for (also what `--mount` gives)."""

    type: str                       # bind | volume | tmpfs
    target: str
    source: str = ""
    read_only: bool = False
    propagation: str = ""           # bind
    create_mountpoint: bool = False  # bind: -v creates a missing host dir, --mount does not
    no_copy: bool = False           # volume
    volume_driver: str = ""
    volume_labels: dict[str, str] = field(default_factory=dict)
    volume_driver_opts: dict[str, str] = field(default_factory=dict)
    subpath: str = ""
    tmpfs_size: int = 0
    tmpfs_mode: int = 0
    tmpfs_options: list[list[str]] = field(default_factory=list)
    has_bind_options: bool = False
    has_volume_options: bool = False


@dataclass
class MountPoint:
    """A resolved mount of a container (moby's volume/mounts.MountPoint)."""

    type: str
    destination: str
    source: str = ""                # host path (bind), volume _data (volume)
    name: str = ""                  # volume name ("" until an anonymous one is made)
    driver: str = ""
    rw: bool = True
    mode: str = ""                  # the -v mode string, as Docker shows it
    propagation: str = ""
    copy_data: bool = False
    tmpfs_options: str = ""         # mount(8) data for tmpfs
    spec: MountSpec | None = None

    def to_json(self) -> dict[str, Any]:
        """Docker's inspect "Mounts" entry (types.MountPoint)."""
        out: dict[str, Any] = {"Type": self.type, "Source": self.source,
                               "Destination": self.destination, "Mode": self.mode,
                               "RW": self.rw, "Propagation": self.propagation}
        if self.type == "tmpfs":
            out["TmpfsOptions"] = self.tmpfs_options
        if self.type == "volume":
            out = {"Type": "volume", "Name": self.name, "Source": self.source,
                   "Destination": self.destination, "Driver": self.driver or "local",
                   "Mode": self.mode or "z", "RW": self.rw, "Propagation": ""}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MountPoint:
        return cls(type=d.get("Type", ""), destination=d.get("Destination", ""),
                   source=d.get("Source", ""), name=d.get("Name", ""),
                   driver=d.get("Driver", ""), rw=bool(d.get("RW", True)),
                   mode=d.get("Mode", ""), propagation=d.get("Propagation", ""),
                   tmpfs_options=d.get("TmpfsOptions", ""))


# ------------------------------------------------------------------ errors

def invalid_spec(raw: str) -> str:
    return f"invalid volume specification: '{raw}'"


def _mount_config_error(mtype: str, msg: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{mtype}": {msg}')


# ------------------------------------------------------------------ modes

def valid_mode(mode: str) -> bool:
    if mode == "":
        return True
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "cons": 0}
    for o in mode.split(","):
        if o in RW_MODES:
            counts["rw"] += 1
        elif o in LABEL_MODES:
            counts["label"] += 1
        elif o in PROPAGATION_MODES:
            counts["prop"] += 1
        elif o in COPY_MODES:
            counts["copy"] += 1
        elif o in CONSISTENCY_MODES:
            counts["cons"] += 1
        else:
            return False
    return all(c <= 1 for c in counts.values())


def _propagation(mode: str) -> str:
    for o in mode.split(","):
        if o in PROPAGATION_MODES:
            return o
    return ""


# ------------------------------------------------------------------ parsing

def validate_spec(m: MountSpec, *, check_bind_source: bool = True) -> None:
    """moby's validateMountConfig for Linux."""
    if not m.target:
        raise _mount_config_error(m.type, "field Target must not be empty")
    if posixpath.normpath(m.target) == "/":
        raise _mount_config_error(m.type, "invalid specification: destination can't be '/'")
    if not m.target.startswith("/"):
        raise _mount_config_error(
            m.type, f"invalid mount path: '{m.target}' mount path must be absolute")
    if m.type == "bind":
        if not m.source:
            raise _mount_config_error(m.type, "field Source must not be empty")
        if m.propagation and m.propagation not in PROPAGATION_MODES:
            raise _mount_config_error(m.type, f"invalid propagation mode: {m.propagation}")
        if m.has_volume_options:
            raise _mount_config_error(m.type, "field VolumeOptions must not be specified")
        if not m.source.startswith("/"):
            raise _mount_config_error(
                m.type, f"invalid mount path: '{m.source}' mount path must be absolute")
        if check_bind_source and not m.create_mountpoint and not os.path.exists(m.source):
            raise _mount_config_error(m.type, f"bind source path does not exist: {m.source}")
    elif m.type == "volume":
        if m.has_bind_options:
            raise _mount_config_error(m.type, "field BindOptions must not be specified")
        anonymous = not m.source
        if m.subpath:
            if anonymous:
                raise _mount_config_error(m.type, "must not set Subpath when using anonymous "
                                          "volumes")
            if m.subpath.startswith("/") or ".." in m.subpath.split("/"):
                raise _mount_config_error(m.type, "subpath must be a relative path within "
                                          "the volume")
        if m.read_only and anonymous:
            raise _mount_config_error(m.type, "must not set ReadOnly mode when using "
                                      "anonymous volumes")
    elif m.type == "tmpfs":
        if m.has_bind_options:
            raise _mount_config_error(m.type, "field BindOptions must not be specified")
        if m.source:
            raise _mount_config_error(m.type, "field Source must not be specified")
        tmpfs_data(m)
    else:
        raise _mount_config_error(m.type, "mount type unknown")


def tmpfs_data(m: MountSpec) -> str:
    """moby's ConvertTmpfsOptions: ro, mode=, size= with the largest exact suffix."""
    raw: list[str] = []
    if m.read_only:
        raw.append("ro")
    if m.tmpfs_mode:
        raw.append(f"mode={m.tmpfs_mode:o}")
    if m.tmpfs_size:
        size, suffix = m.tmpfs_size, ""
        for suf, div in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % div == 0:
                size, suffix = size // div, suf
                break
        raw.append(f"size={size}{suffix}")
    for opt in m.tmpfs_options:
        if not 1 <= len(opt) <= 2:
            raise _mount_config_error("tmpfs", "invalid option array length")
        if opt[0] not in ("exec", "noexec"):
            raise _mount_config_error("tmpfs", f"invalid option: {opt[0]}")
        raw.append("=".join(opt))
    return ",".join(raw)


def _to_point(m: MountSpec, mode: str = "") -> MountPoint:
    mp = MountPoint(type=m.type, destination=posixpath.normpath(m.target), rw=not m.read_only,
                    mode=mode, spec=m)
    if m.type == "volume":
        mp.name = m.source
        mp.driver = m.volume_driver or "local"
        mp.copy_data = not m.no_copy
    elif m.type == "bind":
        mp.source = posixpath.normpath(m.source)
        mp.propagation = m.propagation or DEFAULT_PROPAGATION
    elif m.type == "tmpfs":
        mp.tmpfs_options = tmpfs_data(m)
    return mp


def parse_volume(raw: str, volume_driver: str = "") -> MountPoint:
    """One `-v`: `/ctr`, `name:/ctr[:mode]`, `/host:/ctr[:mode]` (moby's ParseMountRaw)."""
    arr = raw.split(":", 3)
    if arr[0] == "":
        raise InvalidArgument(invalid_spec(raw))
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if valid_mode(arr[1]):  # "/foo:rw": a destination with a mode is not a volume
            raise InvalidArgument(invalid_spec(raw))
        source, target = arr
    elif len(arr) == 3:
        source, target, mode = arr
    else:
        raise InvalidArgument(invalid_spec(raw))
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    spec = MountSpec(type="bind" if source.startswith("/") else "volume", source=source,
                     target=target, read_only="ro" in mode.split(","),
                     propagation=_propagation(mode), create_mountpoint=True,
                     no_copy="nocopy" in mode.split(","), volume_driver=volume_driver)
    try:
        validate_spec(spec, check_bind_source=False)
    except InvalidArgument as e:
        raise InvalidArgument(f"{invalid_spec(raw)}: {e}") from e
    return _to_point(spec, mode)


def parse_mount_spec(spec: MountSpec) -> MountPoint:
    """One `--mount` (a mount.Mount from the API)."""
    validate_spec(spec, check_bind_source=True)
    return _to_point(spec)


def parse_mount_api(d: dict[str, Any]) -> MountSpec:
    """HostConfig.Mounts entry (Docker JSON keys) → MountSpec."""
    bind = d.get("BindOptions")
    vol = d.get("VolumeOptions")
    tmp = d.get("TmpfsOptions") or {}
    return MountSpec(
        type=str(d.get("Type") or ""), source=str(d.get("Source") or ""),
        target=str(d.get("Target") or ""), read_only=bool(d.get("ReadOnly")),
        propagation=str((bind or {}).get("Propagation") or ""),
        create_mountpoint=bool((bind or {}).get("CreateMountpoint")),
        no_copy=bool((vol or {}).get("NoCopy")),
        volume_driver=str(((vol or {}).get("DriverConfig") or {}).get("Name") or ""),
        volume_labels=dict((vol or {}).get("Labels") or {}),
        volume_driver_opts=dict(((vol or {}).get("DriverConfig") or {}).get("Options") or {}),
        subpath=str((vol or {}).get("Subpath") or ""),
        tmpfs_size=int(tmp.get("SizeBytes") or 0), tmpfs_mode=int(tmp.get("Mode") or 0),
        tmpfs_options=[list(o) for o in tmp.get("Options") or []],
        has_bind_options=bool(bind), has_volume_options=bool(vol))


def parse_tmpfs(target: str, options: str) -> MountPoint:
    """One `--tmpfs /path[:opts]` (HostConfig.Tmpfs entry)."""
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount path: '{target}' mount path must be absolute")
    if posixpath.normpath(target) == "/":
        raise InvalidArgument("invalid specification: destination can't be '/'")
    return MountPoint(type="tmpfs", destination=posixpath.normpath(target), rw=True,
                      tmpfs_options=options)


def parse_size(text: str) -> int:
    """go-units RAMInBytes: "64m", "1g", "512k", "1024" → bytes."""
    t = text.strip().lower().removesuffix("b").removesuffix("i")
    mult = 1
    for suf, m in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)):
        if t.endswith(suf):
            t, mult = t[:-1], m
            break
    try:
        value = float(t)
    except ValueError as e:
        raise InvalidArgument(f"invalid size: '{text}'") from e
    return int(value * mult)


def parse_mount_csv(value: str) -> MountSpec:
    """`--mount type=bind,source=/a,target=/b,readonly` (docker/cli opts.MountOpt)."""
    fields = next(csv.reader([value]))
    spec = MountSpec(type="volume", target="")
    for f in fields:
        key, eq, val = f.partition("=")
        key = key.strip().lower()
        if not eq:
            if key in ("readonly", "ro"):
                spec.read_only = True
                continue
            if key == "volume-nocopy":
                spec.no_copy = spec.has_volume_options = True
                continue
            raise InvalidArgument(f"invalid field '{f}' must be a key=value pair")
        if key == "type":
            spec.type = val
        elif key in ("source", "src"):
            spec.source = val
        elif key in ("target", "dst", "destination"):
            spec.target = val
        elif key in ("readonly", "ro"):
            if val.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid value for {key}: {val}")
            spec.read_only = val.lower() in ("true", "1")
        elif key == "bind-propagation":
            spec.propagation, spec.has_bind_options = val, True
        elif key == "bind-create-mountpoint":
            spec.create_mountpoint = val.lower() in ("", "true", "1")
            spec.has_bind_options = True
        elif key == "volume-nocopy":
            spec.no_copy = val.lower() in ("", "true", "1")
            spec.has_volume_options = True
        elif key == "volume-driver":
            spec.volume_driver, spec.has_volume_options = val, True
        elif key == "volume-subpath":
            spec.subpath, spec.has_volume_options = val, True
        elif key == "volume-label":
            k, _, v = val.partition("=")
            spec.volume_labels[k] = v
            spec.has_volume_options = True
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            spec.volume_driver_opts[k] = v
            spec.has_volume_options = True
        elif key == "tmpfs-size":
            spec.tmpfs_size = parse_size(val)
        elif key == "tmpfs-mode":
            try:
                spec.tmpfs_mode = int(val, 8)
            except ValueError as e:
                raise InvalidArgument(f"invalid value for {key}: {val}") from e
        elif key == "consistency":
            if val not in (*CONSISTENCY_MODES, "default"):
                raise InvalidArgument(f"invalid value for {key}: {val}")
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{f}'")
    if not spec.type:
        raise InvalidArgument("type is required")
    if not spec.target:
        raise InvalidArgument("target is required")
    return spec


def check_duplicates(points: list[MountPoint]) -> None:
    seen: set[str] = set()
    for p in points:
        if p.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {p.destination}")
        seen.add(p.destination)


# ------------------------------------------------------------------ OCI

def oci_mount(mp: MountPoint) -> dict[str, Any]:
    """The OCI runtime-spec mount entry for a resolved mount point."""
    if mp.type == "tmpfs":
        opts = list(TMPFS_DEFAULTS)
        for o in (mp.tmpfs_options.split(",") if mp.tmpfs_options else []):
            if o in ("exec",):
                opts = [x for x in opts if x != "noexec"]
            if o and o not in opts:
                opts.append(o)
        return {"destination": mp.destination, "type": "tmpfs", "source": "tmpfs",
                "options": opts}
    opts = ["rbind", mp.propagation or DEFAULT_PROPAGATION]
    if not mp.rw:
        opts.append("ro")
    return {"destination": mp.destination, "type": "bind", "source": mp.source,
            "options": opts}
