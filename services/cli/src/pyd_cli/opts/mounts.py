"""`-v/--volume` and `--mount`: docker/cli's volume spec parser and opts.MountOpt.

`-v` follows the compose loader's ParseVolume (what `docker run` uses), plus the
two checks moby's linux parser would make anyway (absolute target, known modes),
so a bad spec fails before anything is created.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pyd_cli.opts import OptError
from pyd_cli.opts.units import ram_in_bytes

_PROPAGATION = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
_MODES = {"ro", "rw", "z", "Z", "nocopy", *_PROPAGATION}


@dataclass
class VolumeSpec:
    """A parsed `-v` value (types.ServiceVolumeConfig's fields docker uses)."""

    type: str = ""
    source: str = ""
    target: str = ""
    read_only: bool = False
    mode: str = ""


def _is_windows_drive(buffer: str, char: str) -> bool:
    return char == ":" and len(buffer) == 1 and buffer.isalpha()


def _is_file_path(source: str) -> bool:
    return source in (".", "..") or source[0] in "./~"


def parse_volume(spec: str) -> VolumeSpec:
    """The compose loader's ParseVolume: `[SRC:]DST[:OPTS]`."""
    vol = VolumeSpec()
    if len(spec) == 0:
        raise OptError("invalid empty volume spec")
    if len(spec) <= 2:
        return VolumeSpec(type="volume", target=spec)
    end = "\x00"
    buffer = ""
    for char in spec + end:
        if _is_windows_drive(buffer, char):
            buffer += char
        elif char in (":", end):
            if not buffer:
                raise OptError(f"invalid spec: {spec}: empty section between colons")
            if not vol.source and char == end:
                vol.target = buffer
            elif not vol.source:
                vol.source = buffer
            elif not vol.target:
                vol.target = buffer
            elif char == ":":
                raise OptError(f"invalid spec: {spec}: too many colons")
            else:
                vol.mode = buffer
                for option in buffer.split(","):
                    if option == "ro":
                        vol.read_only = True
                    elif option == "rw":
                        vol.read_only = False
            buffer = ""
        else:
            buffer += char
    if not vol.source:
        vol.type = "volume"
    elif _is_file_path(vol.source):
        vol.type = "bind"
    else:
        vol.type = "volume"
    return vol


def validate_volume(spec: str, vol: VolumeSpec) -> None:
    """What moby's linux parser refuses: relative targets, unknown modes."""
    if not vol.target.startswith("/"):
        raise OptError(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            f"\"{vol.type}\": invalid mount path: '{vol.target}' mount path must be absolute"
        )
    if vol.target == "/":
        raise OptError(
            f"invalid volume specification: '{spec}': invalid mount config for type "
            f"\"{vol.type}\": invalid specification: destination can't be '/'"
        )
    if vol.mode:
        for option in vol.mode.split(","):
            if option not in _MODES:
                raise OptError(f"invalid volume specification: '{spec}': invalid mode: {vol.mode}")


def bind_string(spec: str, vol: VolumeSpec) -> str:
    """The HostConfig.Binds entry for a `-v` with a source (relative "./x" made absolute)."""
    if vol.type != "bind":
        return spec
    host, sep, rest = spec.partition(":")
    if sep and not os.path.isabs(host) and host.startswith("."):
        host = os.path.abspath(host)
    return host + sep + rest


@dataclass
class MountSpec:
    """A parsed `--mount` value (mount.Mount)."""

    type: str = "volume"
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_propagation: str | None = None
    bind_nonrecursive: bool | None = None
    volume_nocopy: bool | None = None
    volume_labels: dict[str, str] | None = None
    volume_driver: str | None = None
    volume_opts: dict[str, str] | None = None
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None
    touched: set[str] = field(default_factory=set)


def _parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(value)


def parse_mount(value: str) -> MountSpec:
    """opts.MountOpt.Set: comma-separated key=value fields (a CSV record)."""
    import csv

    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as err:
        raise OptError(str(err)) from None
    m = MountSpec()
    for fld in fields:
        key, sep, val = fld.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                m.read_only = True
            elif key == "volume-nocopy":
                m.volume_nocopy = True
                m.touched.add("volume")
            elif key == "bind-nonrecursive":
                m.bind_nonrecursive = True
                m.touched.add("bind")
            else:
                raise OptError(f"invalid field '{fld}' must be a key=value pair")
            continue
        try:
            if key == "type":
                m.type = val.lower()
            elif key in ("source", "src"):
                m.source = val
                if val == "." or val.startswith("./"):
                    m.source = os.path.abspath(val)
            elif key in ("target", "dst", "destination"):
                m.target = val
            elif key in ("readonly", "ro"):
                m.read_only = _parse_bool(val)
            elif key == "consistency":
                m.consistency = val.lower()
            elif key == "bind-propagation":
                m.bind_propagation = val.lower()
                m.touched.add("bind")
            elif key == "bind-nonrecursive":
                m.bind_nonrecursive = _parse_bool(val)
                m.touched.add("bind")
            elif key == "volume-nocopy":
                m.volume_nocopy = _parse_bool(val)
                m.touched.add("volume")
            elif key == "volume-label":
                k, _, v = val.partition("=")
                m.volume_labels = {**(m.volume_labels or {}), k: v}
                m.touched.add("volume")
            elif key == "volume-driver":
                m.volume_driver = val
                m.touched.add("volume")
            elif key == "volume-opt":
                k, _, v = val.partition("=")
                m.volume_opts = {**(m.volume_opts or {}), k: v}
                m.touched.add("volume")
            elif key == "tmpfs-size":
                try:
                    m.tmpfs_size = ram_in_bytes(val)
                except OptError:
                    raise ValueError(val) from None
                m.touched.add("tmpfs")
            elif key == "tmpfs-mode":
                m.tmpfs_mode = int(val, 8)
                if m.tmpfs_mode < 0 or m.tmpfs_mode >= 1 << 32:
                    raise ValueError(val)
                m.touched.add("tmpfs")
            else:
                raise OptError(f"unexpected key '{key}' in '{fld}'")
        except ValueError as err:
            if isinstance(err, OptError):
                raise
            raise OptError(f"invalid value for {key}: {val}") from None
    if not m.type:
        raise OptError("type is required")
    if not m.target:
        raise OptError("target is required")
    for kind in ("volume", "bind", "tmpfs"):
        if kind in m.touched and m.type != kind:
            raise OptError(f"cannot mix '{kind}-*' options with mount type '{m.type}'")
    return m


def parse_tmpfs(value: str) -> tuple[str, str]:
    """`--tmpfs /run[:opts]` → (path, options)."""
    path, _, options = value.partition(":")
    return path, options
