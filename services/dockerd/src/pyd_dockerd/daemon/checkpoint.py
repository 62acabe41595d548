"""`docker checkpoint create/ls/rm` (moby daemon/checkpoint.go), with pyd's records:
a checkpoint is listed only once its CRIU image is complete (written under a temporary
name, renamed, then recorded), so a kill half way never leaves a listed partial one.

pyd's additions: every checkpoint carries `config.json` (the container's config, the
image it ran from) beside the CRIU image and `rootfs-diff.tar`, which makes it
self-contained: `export` streams it as one tar, `import` records it on any host
(attached to a container, or standalone), and `create_from` makes a new container
that restores it on its first start."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from pyd_dockerd.ioutils import ChunkReader
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
# The container's config and the image it ran from, written with every checkpoint; an
# export's first member carries the same document.
CONFIG_FILE = "config.json"
EXPORT_MANIFEST = "pyd-checkpoint.json"
EXPORT_DIR = "checkpoint/"
_PARTIAL = ".partial-"


def write_rootfs_diff(upper: str, out: str) -> None:
    """The container's filesystem changes (its overlay upper dir, whiteouts included)
    as a tar: what a restore elsewhere needs besides the CRIU image, since the process
    may hold files it wrote open."""
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(upper)):
            tar.add(os.path.join(upper, entry), arcname=entry)
    os.replace(tmp, out)


def apply_rootfs_diff(tar_path: str, upper: str) -> None:
    """Unpack a checkpoint's filesystem changes into a fresh container's upper dir.
    The diff may come from another host: nothing may land outside `upper` (tarfile's
    "tar" filter checks names, through symlinks already extracted; hard link targets
    are checked here), while modes, owners (numeric) and devices — overlay whiteouts
    are 0:0 character devices — stay as the container wrote them."""
    with tarfile.open(tar_path) as tar:
        tar.extractall(upper, filter=_rootfs_member, numeric_owner=True)


def _rootfs_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    # strips a leading "/", raises for a name leading outside `dest`; only its mode
    # change (setuid bits and group/other write cleared) is undone
    filtered = tarfile.tar_filter(member, dest).replace(mode=member.mode, deep=False)
    if member.islnk():
        root = os.path.realpath(dest)
        target = os.path.realpath(os.path.join(root, member.linkname))
        if os.path.commonpath([root, target]) != root:
            raise tarfile.LinkOutsideDestinationError(member, target)
    return filtered


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
        created = datetime.now(UTC)
        _write_json(os.path.join(work, CONFIG_FILE), checkpoint_config(
            c, name, created=created, leave_running=leave_running, lazy=lazy))
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if not leave_running:
            with contextlib.suppress(Exception), d.locked(c.id) as cur:
                cur.manually_stopped = False
                d.containers.save(cur)
        raise
    cp = Checkpoint(name=name, container_id=c.id, dir=base, image_digest=c.image,
                    leave_running=leave_running, lazy=lazy, size=_du(final), created=created)
    _insert(d, cp)
    if not leave_running:
        # The task ended with the dump; return once dockerd has recorded it.
        d.monitor.wait_stopped(c.id, 30.0)
    d.events.emit("container", "checkpoint", c.id, {"name": c.name, "checkpoint": name})
    log.info("checkpoint created", extra={"id": c.id, "checkpoint": name, "dir": base})
    return cp


def checkpoint_config(c: Container, name: str, *, created: datetime, leave_running: bool,
                      lazy: bool) -> dict[str, Any]:
    """What `config.json` holds: enough to make a new container that restores it."""
    return {"Name": name, "ImageDigest": c.image, "ImageRef": c.config.get("Image", ""),
            "Created": created.isoformat(), "LeaveRunning": leave_running, "Lazy": lazy,
            "ContainerID": c.id,
            "Container": {"Name": c.name, "Config": c.config, "HostConfig": c.host_config,
                          "Path": c.path, "Args": c.args}}


def read_config(path: str) -> dict[str, Any]:
    """A checkpoint's config.json ({} for a checkpoint made before pyd wrote one)."""
    try:
        with open(os.path.join(path, CONFIG_FILE)) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _write_json(path: str, doc: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, sort_keys=True)


def _insert(d: Daemon, cp: Checkpoint) -> None:
    with d.db.begin() as conn:
        conn.execute(insert(t).values(
            container_id=cp.container_id, name=cp.name, dir=cp.dir,
            image_digest=cp.image_digest, leave_running=cp.leave_running, lazy=cp.lazy,
            size=cp.size, created_at=cp.created))


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


def standalone_dir(d: Daemon, checkpoint_dir: str = "") -> str:
    """Where imported checkpoints attached to no container live."""
    return os.path.abspath(checkpoint_dir) if checkpoint_dir else os.path.join(
        d.config.root, "checkpoints")


def list_checkpoints(d: Daemon, ref: str, checkpoint_dir: str = "") -> list[Checkpoint]:
    """A container's checkpoints; with no `ref`, every checkpoint (pyd)."""
    query = select(t).order_by(t.c.created_at)
    if ref:
        query = query.where(t.c.dir == base_dir(d.containers.get(ref), checkpoint_dir))
    elif checkpoint_dir:
        query = query.where(t.c.dir == os.path.abspath(checkpoint_dir))
    with d.db.connect() as conn:
        rows = conn.execute(query).all()
    return [_from_row(r) for r in rows if os.path.isdir(os.path.join(r.dir, r.name))]


def get(d: Daemon, c: Container | None, name: str, checkpoint_dir: str = "") -> Checkpoint:
    """Checkpoint `name` of `c` (None: a standalone one); NotFound unless complete."""
    validate_name(name)
    base = base_dir(c, checkpoint_dir) if c is not None else standalone_dir(d, checkpoint_dir)
    cp = _row(d, base, name)
    if cp is None or not os.path.isdir(cp.path):
        owner = f"for container {c.id}" if c is not None else "(imported)"
        raise NotFound(f"checkpoint {name} does not exist {owner}")
    return cp


def for_restore(d: Daemon, c: Container, name: str, checkpoint_dir: str = "") -> Checkpoint:
    """The checkpoint `start --checkpoint` restores into `c`: it must come from `c`'s
    image (a --checkpoint-dir may hold another container's)."""
    cp = get(d, c, name, checkpoint_dir)
    check_image(name, cp.image_digest, c)
    return cp


def check_image(name: str, digest: str, c: Container) -> None:
    if digest and digest != c.image:
        raise FailedPrecondition(
            f"checkpoint {name} was made from image {digest}, but container {c.name} uses "
            f"image {c.image}: restoring onto a different image is refused")


def remove(d: Daemon, ref: str, name: str, checkpoint_dir: str = "") -> None:
    c = d.containers.get(ref) if ref else None
    cp = get(d, c, name, checkpoint_dir)
    with d.db.begin() as conn:
        conn.execute(delete(t).where(t.c.dir == cp.dir, t.c.name == cp.name))
    shutil.rmtree(cp.path, ignore_errors=True)


# ------------------------------------------------------------------ export / import
def _tar_header(name: str, size: int, mode: int = 0o600, mtime: float = 0.0) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, mode, int(mtime)
    return ti.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def export(d: Daemon, ref: str, name: str, checkpoint_dir: str = "",
           chunk: int = 1 << 20) -> Iterator[bytes]:
    """The checkpoint as one tar, streamed: `pyd-checkpoint.json` (its config.json,
    i.e. the container's config and image digest), then `checkpoint/<file>` for each
    file of the CRIU image and rootfs-diff.tar. The members are written here rather
    than by tarfile so that a 2 GiB pages file streams without being buffered."""
    c = d.containers.get(ref) if ref else None
    cp = get(d, c, name, checkpoint_dir)
    doc = read_config(cp.path)
    if not doc:  # a checkpoint made before config.json: describe it from the container
        if c is None:
            raise FailedPrecondition(f"checkpoint {name} has no {CONFIG_FILE}")
        doc = checkpoint_config(c, cp.name, created=cp.created,
                                leave_running=cp.leave_running, lazy=cp.lazy)
    doc = {**doc, "Name": cp.name, "ImageDigest": cp.image_digest}
    manifest = json.dumps(doc, sort_keys=True).encode()
    files = sorted(f for f in os.listdir(cp.path) if f != CONFIG_FILE
                   and os.path.isfile(os.path.join(cp.path, f)))
    log.info("exporting checkpoint", extra={"checkpoint": cp.name, "dir": cp.dir})
    return _export_stream(cp.path, files, manifest, chunk)


def _export_stream(path: str, files: list[str], manifest: bytes,
                   chunk: int) -> Iterator[bytes]:
    yield _tar_header(EXPORT_MANIFEST, len(manifest)) + manifest + _pad(len(manifest))
    for fname in files:
        with open(os.path.join(path, fname), "rb") as f:
            st = os.fstat(f.fileno())
            yield _tar_header(EXPORT_DIR + fname, st.st_size, mtime=st.st_mtime)
            left = st.st_size
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    raise FailedPrecondition(f"checkpoint file {fname} shrank while exported")
                left -= len(data)
                yield data
            yield _pad(st.st_size)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def import_(d: Daemon, chunks: Iterable[bytes], *, container: str = "", name: str = "",
            checkpoint_dir: str = "") -> Checkpoint:
    """Record an exported checkpoint on this host: attached to `container` (which must
    use the checkpoint's image) or, without one, standalone for `create_from`."""
    c = d.containers.get(container) if container else None
    if name:
        validate_name(name)
    base = base_dir(c, checkpoint_dir) if c is not None else standalone_dir(d, checkpoint_dir)
    os.makedirs(base, mode=0o700, exist_ok=True)
    work = os.path.join(base, f".import{_PARTIAL}{uuid.uuid4().hex[:8]}")
    os.makedirs(work, mode=0o700)
    try:
        doc = _unpack(ChunkReader(chunks), work)
        name = name or str(doc.get("Name") or "")
        validate_name(name)
        digest = str(doc.get("ImageDigest") or "")
        if not digest.startswith("sha256:"):
            raise InvalidArgument("not a pyd checkpoint export: it names no image digest")
        if c is not None:
            check_image(name, digest, c)
        _write_json(os.path.join(work, CONFIG_FILE), doc)
        final = os.path.join(base, name)
        if os.path.exists(final) or _row(d, base, name) is not None:
            owner = f"for container {c.id}" if c is not None else "(imported)"
            raise AlreadyExists(f"checkpoint with name {name} already exists {owner}")
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    cp = Checkpoint(name=name, container_id=c.id if c is not None else "", dir=base,
                    image_digest=digest, leave_running=bool(doc.get("LeaveRunning")),
                    lazy=bool(doc.get("Lazy")), size=_du(final), created=datetime.now(UTC))
    _insert(d, cp)
    log.info("checkpoint imported", extra={"checkpoint": name, "dir": base,
                                           "id": cp.container_id})
    return cp


def _unpack(stream: io.RawIOBase, work: str) -> dict[str, Any]:
    """Unpack an export into `work`; returns its manifest. Only regular files named
    `checkpoint/<name>` are taken: nothing can land outside `work`."""
    doc: dict[str, Any] | None = None
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream, 1 << 20), mode="r|") as tar:
            for m in tar:
                if m.name == EXPORT_MANIFEST and m.isfile():
                    f = tar.extractfile(m)
                    assert f is not None
                    loaded = json.loads(f.read(1 << 20))
                    if not isinstance(loaded, dict):
                        raise InvalidArgument(f"not a pyd checkpoint export: bad {m.name}")
                    doc = loaded
                    continue
                fname = m.name.removeprefix(EXPORT_DIR)
                if (not m.name.startswith(EXPORT_DIR) or not m.isfile() or "/" in fname
                        or fname in ("", ".", "..") or fname == CONFIG_FILE):
                    raise InvalidArgument(f"not a pyd checkpoint export: unexpected member "
                                          f"{m.name!r}")
                src = tar.extractfile(m)
                assert src is not None
                with open(os.path.join(work, fname), "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (tarfile.TarError, ValueError, EOFError) as e:
        raise InvalidArgument(f"not a pyd checkpoint export: {e}") from None
    if doc is None:
        raise InvalidArgument(f"not a pyd checkpoint export: no {EXPORT_MANIFEST}")
    if not os.path.exists(os.path.join(work, "inventory.img")):
        raise InvalidArgument("not a pyd checkpoint export: it holds no CRIU image")
    return doc


# ------------------------------------------------------------ create --from-checkpoint
def resolve_ref(d: Daemon, ref: str, checkpoint_dir: str = "") -> Checkpoint:
    """`NAME` (an imported, standalone checkpoint) or `CONTAINER/NAME`."""
    owner, sep, name = ref.rpartition("/")
    if sep and not owner:
        raise InvalidArgument(f"invalid checkpoint reference {ref!r}: want NAME or "
                              "CONTAINER/NAME")
    return get(d, d.containers.get(owner) if sep else None, name, checkpoint_dir)


def create_from(d: Daemon, name: str, ref: str, checkpoint_dir: str, config: dict[str, Any],
                host_config: dict[str, Any],
                endpoints: dict[str, dict[str, Any]] | None = None) -> Container:
    """`pyd create --from-checkpoint REF`: a new container with the checkpoint's config
    (command, environment, user, hostname...; the host side — name, network, mounts,
    limits — from this request), its filesystem diff applied, and the checkpoint linked
    in as its own, restored by its next start."""
    from pyd_dockerd.daemon import create as creating
    from pyd_dockerd.daemon.delete import remove as remove_container

    cp = resolve_ref(d, ref, checkpoint_dir)
    doc = read_config(cp.path)
    saved = doc.get("Container") or {}
    if not saved and cp.container_id:
        with contextlib.suppress(NotFound):
            src = d.containers.get(cp.container_id)
            saved = {"Config": src.config}
    if not saved.get("Config"):
        raise FailedPrecondition(f"checkpoint {ref} holds no container config")
    if config.get("Cmd") or config.get("Entrypoint"):
        raise InvalidArgument("a command cannot be given with --from-checkpoint: the "
                              "checkpointed process is restored")
    image_ref = str(config.get("Image") or "")
    if image_ref:
        image = d.images.get(image_ref)
        if image.id != cp.image_digest:
            raise FailedPrecondition(
                f"checkpoint {ref} was made from image {cp.image_digest}, but image "
                f"{image_ref} is {image.id}: restoring onto a different image is refused")
    else:
        image_ref = str(doc.get("ImageRef") or "")
        try:
            if not image_ref or d.images.get(image_ref).id != cp.image_digest:
                image_ref = d.images.get(cp.image_digest).id
        except NotFound:
            raise NotFound(f"No such image: {cp.image_digest} (the image checkpoint {ref} "
                           "was made from; load it on this host first)") from None
    new_config = dict(saved["Config"])
    new_config["Image"] = image_ref
    labels = dict(new_config.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    new_config["Labels"] = labels
    c = creating.create(d, name, new_config, host_config, endpoints)
    try:
        diff = os.path.join(cp.path, ROOTFS_DIFF)
        if os.path.exists(diff):
            apply_rootfs_diff(diff, d.upper_dir(c))
        base = base_dir(c, "")
        os.makedirs(base, mode=0o700, exist_ok=True)
        work = os.path.join(base, f".{cp.name}{_PARTIAL}{uuid.uuid4().hex[:8]}")
        _link_tree(cp.path, work)
        os.rename(work, os.path.join(base, cp.name))
        _insert(d, Checkpoint(name=cp.name, container_id=c.id, dir=base,
                              image_digest=cp.image_digest, leave_running=cp.leave_running,
                              lazy=cp.lazy, size=cp.size, created=cp.created))
        with d.locked(c.id) as cur:
            cur.state.pending_checkpoint = cp.name
            d.containers.save(cur)
    except BaseException:
        with contextlib.suppress(Exception):
            remove_container(d, c.id, force=True, volumes=True)
        raise
    log.info("created from checkpoint", extra={"id": c.id, "checkpoint": ref})
    return d.containers.get(c.id)


def _link_tree(src: str, dst: str) -> None:
    """Hard links where the filesystem allows (images are never written after the
    dump), copies elsewhere."""
    def link_or_copy(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy)


# ------------------------------------------------------------------- after a crash
def recover(d: Daemon) -> None:
    """At dockerd start: remove what a kill left half written (`.NAME.partial-*`, and
    the local images of lazy restores whose container no longer runs), and record a
    complete checkpoint renamed into place just before the kill came."""
    with d.db.connect() as conn:
        rows = conn.execute(select(t.c.dir, t.c.name)).all()
    known = {(r.dir, r.name) for r in rows}
    bases = {r.dir for r in rows} | {standalone_dir(d)}
    owners: dict[str, Container] = {}
    for c in d.containers.list():
        bases.add(base_dir(c, ""))
        owners[base_dir(c, "")] = c
    for base in sorted(bases):
        try:
            entries = os.listdir(base)
        except OSError:
            continue
        owner = owners.get(base)
        for entry in entries:
            path = os.path.join(base, entry)
            if entry.startswith(".") and _PARTIAL in entry:
                log.info("removing a partial checkpoint", extra={"path": path})
                _remove_soon(path)
            elif entry.startswith(".lazy-") and owner is not None and not owner.state.running:
                shutil.rmtree(path, ignore_errors=True)
            elif (not entry.startswith(".") and (base, entry) not in known
                  and os.path.isdir(path)):
                _adopt(d, base, entry, owner)


def _remove_soon(path: str, timeout: float = 120.0) -> None:
    """rmtree, retried in the background while a dump the killed dockerd had asked for
    may still be writing into the directory (the shim finishes it alone)."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.exists(path):
        return

    def retry() -> None:
        deadline = time.monotonic() + timeout
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.5)
            shutil.rmtree(path, ignore_errors=True)

    threading.Thread(target=retry, daemon=True, name="checkpoint-cleanup").start()


def _adopt(d: Daemon, base: str, name: str, owner: Container | None) -> None:
    doc = read_config(os.path.join(base, name))
    if not doc or doc.get("Name") != name or not _NAME.match(name):
        return
    # A standalone checkpoint belongs to no container; one in a --checkpoint-dir to the
    # container that made it.
    cid = owner.id if owner is not None else (
        "" if base == standalone_dir(d) else str(doc.get("ContainerID") or ""))
    created = datetime.now(UTC)
    with contextlib.suppress(ValueError, TypeError):
        created = datetime.fromisoformat(str(doc.get("Created")))
    log.info("recording a checkpoint completed before a crash", extra={"checkpoint": name,
                                                                       "dir": base})
    _insert(d, Checkpoint(name=name, container_id=cid, dir=base,
                          image_digest=str(doc.get("ImageDigest") or ""),
                          leave_running=bool(doc.get("LeaveRunning")),
                          lazy=bool(doc.get("Lazy")), size=_du(os.path.join(base, name)),
                          created=created))
