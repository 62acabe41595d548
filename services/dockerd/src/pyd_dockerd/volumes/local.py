"""The `local` volume driver and the volume records (moby's volume/local and
volume/service): named and anonymous volumes under <root>/volumes/<name>/_data,
their users recorded in `volume_refs` so a volume in use is never removed.

Options of the local driver as Docker's: `type`, `device`, `o` (mount(8) options);
with them the volume is that filesystem, mounted on _data while a container uses it
(`--opt type=tmpfs --opt device=tmpfs --opt o=size=64m`)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pyd_dockerd.store import tables
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
VALID_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
LOCAL_OPTS = ("type", "device", "o", "size")
# Docker labels anonymous volumes so `volume prune` (without --all) finds them.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@dataclass
class Volume:
    name: str
    mountpoint: str
    driver: str = "local"
    anonymous: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    ref_count: int = 0

    def to_json(self, size: int = -1) -> dict[str, Any]:
        """Docker's `volume inspect` shape."""
        out: dict[str, Any] = {
            "CreatedAt": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"), "Driver": self.driver,
            "Labels": dict(self.labels), "Mountpoint": self.mountpoint, "Name": self.name,
            "Options": dict(self.options), "Scope": "local"}
        if size >= 0:  # Docker fills UsageData only where sizes were computed (system df)
            out["UsageData"] = {"RefCount": self.ref_count, "Size": size}
        return out


def validate_name(name: str) -> None:
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{VALID_NAME_CHARS}" are allowed. If you intended to pass a host '
            "directory, use absolute path")


def dir_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


class VolumeStore:
    """Volumes of one daemon; `root` is <daemon root>/volumes."""

    def __init__(self, engine: Engine, root: str) -> None:
        self.engine = engine
        self.root = root
        self._lock = threading.RLock()
        self._mounted: dict[str, int] = {}

    def path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    # --- records -------------------------------------------------------------------
    def _from_row(self, row: Any, refs: int) -> Volume:
        m = row._mapping
        created = m["created_at"]
        return Volume(name=m["name"], mountpoint=m["mountpoint"], driver=m["driver"],
                      anonymous=bool(m["anonymous"]), options=dict(m["options"] or {}),
                      labels=dict(m["labels"] or {}), ref_count=refs,
                      created=created.replace(tzinfo=UTC) if created.tzinfo is None
                      else created)

    def _refs(self, name: str) -> list[str]:
        r = tables.volume_refs
        with self.engine.connect() as conn:
            return [str(c) for (c,) in conn.execute(select(r.c.container_id).where(
                r.c.volume == name))]

    def create(self, name: str = "", *, driver: str = "local",
               driver_opts: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, anonymous: bool = False) -> Volume:
        """`volume create`; an existing volume of the same driver is returned as is
        (Docker's create is idempotent). An empty name makes an anonymous volume;
        `anonymous` marks a caller-named one as such (prune and `rm -v` take those)."""
        driver = driver or "local"
        if driver != "local":
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" '
                           "not found")
        opts = dict(driver_opts or {})
        for k in opts:
            if k not in LOCAL_OPTS:
                raise InvalidArgument(f"invalid option: {k!r}")
        anonymous = anonymous or not name
        labels = dict(labels or {})
        if anonymous:
            name = name or secrets.token_hex(32)
            labels.setdefault(ANONYMOUS_LABEL, "")
        validate_name(name)
        with self._lock:
            try:
                return self.get(name)
            except NotFound:
                pass
            vol = Volume(name=name, mountpoint=self.path(name), driver=driver,
                         anonymous=anonymous, options=opts, labels=labels)
            os.makedirs(vol.mountpoint, mode=0o755, exist_ok=True)
            os.chmod(os.path.dirname(vol.mountpoint), 0o701)
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(tables.volumes).values(
                        name=name, driver=driver, mountpoint=vol.mountpoint,
                        anonymous=anonymous, options=opts, labels=labels,
                        created_at=vol.created))
            except IntegrityError as e:
                raise AlreadyExists(f"volume {name} already exists") from e
            return vol

    def get(self, name: str) -> Volume:
        with self.engine.connect() as conn:
            row = conn.execute(select(tables.volumes).where(
                tables.volumes.c.name == name)).first()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return self._from_row(row, len(self._refs(name)))

    def inspect(self, name: str) -> dict[str, Any]:
        return self.get(name).to_json()

    def list_volumes(self, filters: dict[str, list[str]] | None = None) -> list[Volume]:
        """`volume ls` with Docker's filters: dangling, driver, label, name."""
        filters = filters or {}
        r = tables.volume_refs
        with self.engine.connect() as conn:
            counts: dict[str, int] = {}
            for (v,) in conn.execute(select(r.c.volume)):
                counts[v] = counts.get(v, 0) + 1
            rows = conn.execute(select(tables.volumes).order_by(tables.volumes.c.name)).all()
        vols = [self._from_row(row, counts.get(row.name, 0)) for row in rows]
        for key, values in filters.items():
            if key == "dangling":
                want = values[-1].lower() in ("1", "true")
                vols = [v for v in vols if (v.ref_count == 0) == want]
            elif key == "driver":
                vols = [v for v in vols if v.driver in values]
            elif key == "name":
                vols = [v for v in vols if any(x in v.name for x in values)]
            elif key == "label":
                vols = [v for v in vols if all(_label_match(v.labels, x) for x in values)]
            else:
                raise InvalidArgument(f"invalid filter '{key}'")
        return vols

    def remove(self, name: str, force: bool = False) -> None:
        """`volume rm`: refused while a container uses it (even with force, as Docker)."""
        with self._lock:
            try:
                vol = self.get(name)
            except NotFound:
                if force:
                    return
                raise
            refs = self._refs(name)
            if refs:
                raise FailedPrecondition(f"remove {name}: volume is in use - "
                                         f"[{', '.join(refs)}]")
            with self.engine.begin() as conn:
                conn.execute(delete(tables.volumes).where(tables.volumes.c.name == name))
            self._unmount(vol, force=True)
            shutil.rmtree(os.path.dirname(vol.mountpoint), ignore_errors=True)

    def prune(self, *, all_volumes: bool = False,
              labels: list[str] | None = None) -> tuple[list[str], int]:
        """`volume prune`: unused anonymous volumes (all unused ones with `all_volumes`);
        returns (names removed, bytes reclaimed)."""
        removed, reclaimed = [], 0
        for v in self.list_volumes({"dangling": ["true"]}):
            if not all_volumes and not v.anonymous:
                continue
            if labels and not all(_label_match(v.labels, x) for x in labels):
                continue
            size = dir_size(v.mountpoint)
            try:
                self.remove(v.name)
            except FailedPrecondition:  # taken by a container meanwhile
                continue
            removed.append(v.name)
            reclaimed += size
        return removed, reclaimed

    # --- users -----------------------------------------------------------------------
    def add_ref(self, name: str, container_id: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(tables.volume_refs).values(volume=name,
                                                               container_id=container_id))
        except IntegrityError:
            pass  # already recorded

    def release_container(self, container_id: str, *, remove_anonymous: bool = False
                          ) -> list[str]:
        """Forget the container's uses; with `remove_anonymous` (rm -v) remove the
        anonymous volumes nobody else uses. Returns the names removed."""
        r = tables.volume_refs
        with self.engine.begin() as conn:
            names = [str(v) for (v,) in conn.execute(select(r.c.volume).where(
                r.c.container_id == container_id))]
            conn.execute(delete(r).where(r.c.container_id == container_id))
        removed = []
        if remove_anonymous:
            for n in names:
                with contextlib.suppress(NotFound, FailedPrecondition):
                    if self.get(n).anonymous:
                        self.remove(n)
                        removed.append(n)
        return removed

    # --- mounting (local driver options) -----------------------------------------------
    def mount(self, name: str) -> str:
        """The host path to bind into a container; mounts `type/device/o` volumes."""
        with self._lock:
            vol = self.get(name)
            if vol.options.get("type") or vol.options.get("device"):
                if self._mounted.get(name, 0) == 0 and not os.path.ismount(vol.mountpoint):
                    argv = ["mount"]
                    if vol.options.get("type"):
                        argv += ["-t", vol.options["type"]]
                    if vol.options.get("o"):
                        argv += ["-o", vol.options["o"]]
                    argv += [vol.options.get("device") or vol.options.get("type", "none"),
                             vol.mountpoint]
                    res = subprocess.run(argv, capture_output=True, text=True, check=False)
                    if res.returncode != 0:
                        raise FailedPrecondition(f"error while mounting volume "
                                                 f"'{vol.mountpoint}': {res.stderr.strip()}")
                self._mounted[name] = self._mounted.get(name, 0) + 1
            return vol.mountpoint

    def unmount(self, name: str) -> None:
        with self._lock:
            try:
                vol = self.get(name)
            except NotFound:
                return
            self._unmount(vol)

    def _unmount(self, vol: Volume, force: bool = False) -> None:
        count = self._mounted.get(vol.name, 0)
        if count > 1 and not force:
            self._mounted[vol.name] = count - 1
            return
        self._mounted.pop(vol.name, None)
        if os.path.ismount(vol.mountpoint):
            subprocess.run(["umount", "-l", vol.mountpoint], capture_output=True, check=False)


def _label_match(labels: dict[str, str], expr: str) -> bool:
    key, eq, value = expr.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value
