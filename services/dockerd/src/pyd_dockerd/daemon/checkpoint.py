"""`docker checkpoint create/ls/rm` (moby daemon/checkpoint.go), with pyd's records:
a checkpoint is listed only once its CRIU image is complete (written under a temporary
name, renamed, then recorded), so a kill half way never leaves a listed partial one."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select

from pyd_dockerd.store.tables import checkpoints as t
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

if TYPE_CHECKING:
    from pyd_dockerd.container.container import Container
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.checkpoint")

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass
class Checkpoint:
    name: str
    container_id: str
    dir: str
    image_digest: str
    leave_running: bool
    lazy: bool
    size: int
    created: datetime

    @property
    def path(self) -> str:
        return os.path.join(self.dir, self.name)


def base_dir(c: Container, checkpoint_dir: str) -> str:
    return os.path.abspath(checkpoint_dir) if checkpoint_dir else os.path.join(c.root,
                                                                               "checkpoints")


def validate_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidArgument(f"Invalid checkpoint ID ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-]+ "
                              "are allowed")
    return name


ROOTFS_DIFF = "rootfs-diff.tar"


def write_rootfs_diff(upper: str, out: str) -> None:
    """The container's filesystem changes (its overlay upper dir, whiteouts included)
    as a tar: what a restore elsewhere needs besides the CRIU image, since the process
    may hold files it wrote open."""
    import tarfile

    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(upper)):
            tar.add(os.path.join(upper, entry), arcname=entry)
    os.replace(tmp, out)


def apply_rootfs_diff(tar_path: str, upper: str) -> None:
    """Unpack a checkpoint's filesystem changes into a fresh container's upper dir."""
    import tarfile

    with tarfile.open(tar_path) as tar:
        tar.extractall(upper, filter="fully_trusted")


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
    return total


def create(d: Daemon, ref: str, name: str, *, checkpoint_dir: str = "",
           leave_running: bool = False, lazy: bool = False) -> Checkpoint:
    validate_name(name)
    c = d.containers.get(ref)
    if not c.state.running:
        raise FailedPrecondition(f"Container {c.id} is not running")
    base = base_dir(c, checkpoint_dir)
    final = os.path.join(base, name)
    if os.path.exists(final) or _row(d, base, name) is not None:
        raise AlreadyExists(f"checkpoint with name {name} already exists for container "
                            f"{c.id}")
    os.makedirs(base, mode=0o700, exist_ok=True)
    work = os.path.join(base, f".{name}.partial-{uuid.uuid4().hex[:8]}")
    os.makedirs(work, mode=0o700)
    if not leave_running:
        # The container ends with the checkpoint: not a crash for the restart policy.
        c.manually_stopped = True
        d.containers.save(c)
    try:
        d.containerd.checkpoint_task(c.id, work, leave_running=leave_running, lazy=lazy)
        write_rootfs_diff(d.upper_dir(c), os.path.join(work, ROOTFS_DIFF))
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if not leave_running:
            with contextlib.suppress(Exception), d.locked(c.id) as cur:
                cur.manually_stopped = False
                d.containers.save(cur)
        raise
    cp = Checkpoint(name=name, container_id=c.id, dir=base, image_digest=c.image,
                    leave_running=leave_running, lazy=lazy, size=_du(final),
                    created=datetime.now(UTC))
    with d.db.begin() as conn:
        conn.execute(insert(t).values(
            container_id=cp.container_id, name=cp.name, dir=cp.dir,
            image_digest=cp.image_digest, leave_running=cp.leave_running, lazy=cp.lazy,
            size=cp.size, created_at=cp.created))
    if not leave_running:
        # The task ended with the dump; return once dockerd has recorded it.
        d.monitor.wait_stopped(c.id, 30.0)
    d.events.emit("container", "checkpoint", c.id, {"name": c.name, "checkpoint": name})
    log.info("checkpoint created", extra={"id": c.id, "checkpoint": name, "dir": base})
    return cp


def _row(d: Daemon, base: str, name: str) -> Checkpoint | None:
    with d.db.connect() as conn:
        r = conn.execute(select(t).where(t.c.dir == base, t.c.name == name)).first()
    return _from_row(r) if r else None


def _from_row(r: object) -> Checkpoint:
    m = r._mapping  # type: ignore[attr-defined]
    created = m["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return Checkpoint(name=m["name"], container_id=m["container_id"], dir=m["dir"],
                      image_digest=m["image_digest"], leave_running=m["leave_running"],
                      lazy=m["lazy"], size=m["size"], created=created)


def list_checkpoints(d: Daemon, ref: str, checkpoint_dir: str = "") -> list[Checkpoint]:
    c = d.containers.get(ref)
    base = base_dir(c, checkpoint_dir)
    with d.db.connect() as conn:
        rows = conn.execute(select(t).where(t.c.dir == base).order_by(t.c.created_at)).all()
    return [_from_row(r) for r in rows if os.path.isdir(os.path.join(r.dir, r.name))]


def get(d: Daemon, c: Container, name: str, checkpoint_dir: str = "") -> Checkpoint:
    validate_name(name)
    cp = _row(d, base_dir(c, checkpoint_dir), name)
    if cp is None or not os.path.isdir(cp.path):
        raise NotFound(f"checkpoint {name} does not exist for container {c.id}")
    return cp


def remove(d: Daemon, ref: str, name: str, checkpoint_dir: str = "") -> None:
    c = d.containers.get(ref)
    cp = get(d, c, name, checkpoint_dir)
    with d.db.begin() as conn:
        conn.execute(delete(t).where(t.c.dir == cp.dir, t.c.name == cp.name))
    shutil.rmtree(cp.path, ignore_errors=True)
