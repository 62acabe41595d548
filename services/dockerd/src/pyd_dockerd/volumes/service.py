"""What the container create and start paths call for mounts (moby's
daemon/volumes.go registerMountPoints and setupMounts): resolve a container's `-v`,
`--mount`, `--tmpfs` and image volumes into mount points (creating named and
anonymous volumes and recording the container as their user), then turn the mount
points into OCI mount entries at start."""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

from pyd_dockerd.volumes.local import VolumeStore
from pyd_dockerd.volumes.parse import (
    MountPoint,
    check_duplicates,
    oci_mount,
    parse_mount_api,
    parse_mount_spec,
    parse_tmpfs,
    parse_volume,
)
from pyd_proto.errdefs import PydError


def resolve_mounts(container_id: str, config: dict[str, Any], host_config: dict[str, Any],
                   volumes: VolumeStore) -> list[MountPoint]:
    """Every mount of a new container, volumes created and referenced; on error nothing
    is left behind (no reference, no anonymous volume). Docker's JSON in and out:
    store `[mp.to_json() for mp in result]` as the container's Mounts."""
    points: list[MountPoint] = []
    driver = str(host_config.get("VolumeDriver") or "")
    for raw in host_config.get("Binds") or []:
        points.append(parse_volume(raw, driver))
    for m in host_config.get("Mounts") or []:
        points.append(parse_mount_spec(parse_mount_api(m)))
    for target, opts in (host_config.get("Tmpfs") or {}).items():
        points.append(parse_tmpfs(target, opts or ""))
    check_duplicates(points)
    taken = {p.destination for p in points}
    for target in sorted(config.get("Volumes") or {}):  # image/--volume-less VOLUMEs
        if os.path.normpath(target) not in taken:
            points.append(parse_volume(target))
    created: list[str] = []
    try:
        for p in points:
            if p.type == "bind" and p.spec is not None and p.spec.create_mountpoint \
                    and not os.path.exists(p.source):
                os.makedirs(p.source, mode=0o755, exist_ok=True)  # -v makes the host dir
            if p.type != "volume":
                continue
            spec = p.spec
            existed = bool(p.name) and _exists(volumes, p.name)
            vol = volumes.create(p.name, driver=p.driver or "local",
                                 driver_opts=spec.volume_driver_opts if spec else None,
                                 labels=spec.volume_labels if spec else None)
            if not existed:
                created.append(vol.name)
            p.name, p.source, p.driver = vol.name, vol.mountpoint, vol.driver
            if spec is not None and spec.subpath:
                p.source = os.path.join(vol.mountpoint, spec.subpath)
            volumes.add_ref(vol.name, container_id)
    except PydError:
        volumes.release_container(container_id)
        for name in created:
            with contextlib.suppress(PydError):
                volumes.remove(name)
        raise
    return points


def _exists(volumes: VolumeStore, name: str) -> bool:
    try:
        volumes.get(name)
    except PydError:
        return False
    return True


def oci_mounts(mounts: list[dict[str, Any]], volumes: VolumeStore, *,
               rootfs: str | None = None) -> list[dict[str, Any]]:
    """The OCI mount entries for a container's stored Mounts (its inspect "Mounts").

    Volumes with local-driver device options are mounted first; an empty volume gets a
    copy of what the image holds at its destination (Docker's copy-up), when `rootfs`
    (the mounted image filesystem) is given."""
    out = []
    for d in mounts:
        mp = MountPoint.from_json(d)
        if mp.type == "volume" and mp.name:
            path = volumes.mount(mp.name)
            if mp.source.startswith(path):  # a subpath stays as stored
                path = mp.source
            mp.source = path
            if rootfs is not None:
                copy_up(os.path.join(rootfs, mp.destination.lstrip("/")), path)
        out.append(oci_mount(mp))
    return out


def copy_up(src: str, dst: str) -> bool:
    """Copy the image's content at a volume's destination into the volume, if the
    volume is empty and the image has a directory there (Docker's default)."""
    if not os.path.isdir(src) or os.path.islink(src) or not os.path.isdir(dst):
        return False
    if os.listdir(dst):
        return False
    for entry in os.listdir(src):
        s, d = os.path.join(src, entry), os.path.join(dst, entry)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
    st = os.stat(src)
    os.chmod(dst, st.st_mode & 0o7777)
    with contextlib.suppress(OSError):
        os.chown(dst, st.st_uid, st.st_gid)
    return True
