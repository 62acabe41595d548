"""The overlayfs snapshotter (containerd's snapshots/overlay).

    <root>/snapshots/<id>/fs     the snapshot's files (an overlay upperdir while active)
    <root>/snapshots/<id>/work   overlay's workdir (active snapshots only)

Records (key, parent, kind, labels) live in the metadata database by
namespace; a committed snapshot keeps its directory and changes its key to
the committed name. Mounts of a snapshot with no parent are a single bind
mount; otherwise an overlay with the parents' `fs` directories as lowerdir,
nearest parent first.
"""

from __future__ import annotations

import builtins
import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_containerd.metadata import common, filters
from pyd_containerd.metadata.schema import snapshots
from pyd_containerd.snapshots import Info, Kind, Mount, Usage
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger("pyd.containerd.snapshots")

NAME = "overlayfs"
_KINDS = {"view": Kind.VIEW, "active": Kind.ACTIVE, "committed": Kind.COMMITTED}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}


def _info(r: Any) -> Info:
    return Info(name=r.key, parent=r.parent, kind=_KINDS[r.kind],
                labels=common.load_labels(r.labels), created_at=common.utc(r.created_at),
                updated_at=common.utc(r.updated_at))


class OverlaySnapshotter:
    """Snapshots on overlayfs; every change of records is one transaction."""

    name = NAME

    def __init__(self, engine: Engine, root: str) -> None:
        self.engine = engine
        self.root = root
        os.makedirs(os.path.join(root, "snapshots"), mode=0o700, exist_ok=True)

    # paths

    def snapshot_dir(self, id: int) -> str:
        return os.path.join(self.root, "snapshots", str(id))

    def upper_path(self, id: int) -> str:
        return os.path.join(self.snapshot_dir(id), "fs")

    def work_path(self, id: int) -> str:
        return os.path.join(self.snapshot_dir(id), "work")

    # queries

    def _row(self, conn: Connection, ns: str, key: str) -> Any:
        return conn.execute(select(snapshots).where(
            snapshots.c.namespace == ns, snapshots.c.snapshotter == self.name,
            snapshots.c.key == key)).first()

    def _get(self, conn: Connection, ns: str, key: str) -> Any:
        row = self._row(conn, ns, key)
        if row is None:
            raise NotFound(f"snapshot {key!r}: not found")
        return row

    def _parent_ids(self, conn: Connection, ns: str, parent: str) -> list[int]:
        """Directory ids of the parent chain, nearest first."""
        ids: list[int] = []
        while parent:
            row = self._get(conn, ns, parent)
            ids.append(row.id)
            parent = row.parent
        return ids

    def path_of(self, namespace: str, key: str) -> str:
        """The `fs` directory of snapshot `key` (the upperdir while it is active)."""
        with self.engine.connect() as conn:
            return self.upper_path(self._get(conn, namespace, key).id)

    def stat(self, namespace: str, key: str) -> Info:
        with self.engine.connect() as conn:
            return _info(self._get(conn, namespace, key))

    def list(self, namespace: str, filter_strs: Sequence[str] = ()) -> builtins.list[Info]:
        flt = filters.parse(filter_strs)
        with self.engine.connect() as conn:
            rows = conn.execute(select(snapshots).where(
                snapshots.c.namespace == namespace, snapshots.c.snapshotter == self.name)
                .order_by(snapshots.c.id)).all()
        out = [_info(r) for r in rows]
        return [i for i in out if flt.match(filters.labels_getter(
            {"name": i.name, "parent": i.parent, "kind": _KIND_NAMES.get(i.kind, "")},
            i.labels))]

    def mounts(self, namespace: str, key: str) -> builtins.list[Mount]:
        with self.engine.connect() as conn:
            row = self._get(conn, namespace, key)
            parents = self._parent_ids(conn, namespace, row.parent)
        return self._mounts(row.id, _KINDS[row.kind], parents)

    def _mounts(self, id: int, kind: Kind, parents: builtins.list[int]) -> builtins.list[Mount]:
        if not parents:
            ro = "ro" if kind == Kind.VIEW else "rw"
            return [Mount("bind", self.upper_path(id), [ro, "rbind"])]
        if kind == Kind.VIEW:
            if len(parents) == 1:
                return [Mount("bind", self.upper_path(parents[0]), ["ro", "rbind"])]
            lower = ":".join(self.upper_path(p) for p in parents)
            return [Mount("overlay", "overlay", [f"lowerdir={lower}"])]
        lower = ":".join(self.upper_path(p) for p in parents)
        return [Mount("overlay", "overlay", [
            "index=off", f"workdir={self.work_path(id)}", f"upperdir={self.upper_path(id)}",
            f"lowerdir={lower}"])]

    # changes

    def prepare(self, namespace: str, key: str, parent: str = "",
                labels: dict[str, str] | None = None) -> builtins.list[Mount]:
        """A new active (writable) snapshot on `parent`; AlreadyExists if `key` is taken."""
        return self._create(namespace, Kind.ACTIVE, key, parent, labels or {})

    def view(self, namespace: str, key: str, parent: str = "",
             labels: dict[str, str] | None = None) -> builtins.list[Mount]:
        """A new read-only view of `parent`."""
        return self._create(namespace, Kind.VIEW, key, parent, labels or {})

    def _create(self, ns: str, kind: Kind, key: str, parent: str,
                labels: dict[str, str]) -> builtins.list[Mount]:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        common.validate_labels(labels)
        ts = common.now()
        try:
            with common.write(self.engine, ns, create=True) as conn:
                if self._row(conn, ns, key) is not None:
                    raise AlreadyExists(f"snapshot {key!r}: already exists")
                parents: list[int] = []
                if parent:
                    prow = self._row(conn, ns, parent)
                    if prow is None:
                        raise NotFound(f"parent snapshot {parent!r}: not found")
                    if prow.kind != "committed":
                        raise InvalidArgument(f"parent {parent!r} is not a committed snapshot")
                    parents = self._parent_ids(conn, ns, parent)
                res = conn.execute(insert(snapshots).values(
                    namespace=ns, snapshotter=self.name, key=key, parent=parent,
                    kind=_KIND_NAMES[kind], labels=common.dump_labels(labels),
                    created_at=ts, updated_at=ts))
                id = int(res.inserted_primary_key[0])  # type: ignore[index]
                # the directory appears inside the transaction: no record without it;
                # a directory without a record (crash) is swept by cleanup()
                d = self.snapshot_dir(id)
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(os.path.join(d, "fs"), mode=0o755)
                if kind == Kind.ACTIVE and parents:
                    os.makedirs(os.path.join(d, "work"), mode=0o711)
        except IntegrityError as e:
            raise AlreadyExists(f"snapshot {key!r}: already exists") from e
        return self._mounts(id, kind, parents)

    def commit(self, namespace: str, name: str, key: str,
               labels: dict[str, str] | None = None) -> None:
        """Turn active snapshot `key` into committed snapshot `name` (same directory)."""
        if not name:
            raise InvalidArgument("committed snapshot name must not be empty")
        common.validate_labels(labels or {})
        try:
            with common.write(self.engine, namespace) as conn:
                row = self._get(conn, namespace, key)
                if row.kind != "active":
                    raise FailedPrecondition(f"snapshot {key!r} is not active")
                if self._row(conn, namespace, name) is not None:
                    raise AlreadyExists(f"snapshot {name!r}: already exists")
                values: dict[str, Any] = {"key": name, "kind": "committed",
                                          "updated_at": common.now()}
                if labels is not None:
                    values["labels"] = common.dump_labels(labels)
                conn.execute(update(snapshots).where(snapshots.c.id == row.id).values(**values))
        except IntegrityError as e:
            raise AlreadyExists(f"snapshot {name!r}: already exists") from e
        shutil.rmtree(self.work_path(row.id), ignore_errors=True)

    def remove(self, namespace: str, key: str) -> None:
        """Remove snapshot `key`; FailedPrecondition while other snapshots build on it."""
        with common.write(self.engine, namespace) as conn:
            row = self._get(conn, namespace, key)
            if row.kind == "committed" and conn.execute(select(snapshots.c.id).where(
                    snapshots.c.namespace == namespace, snapshots.c.snapshotter == self.name,
                    snapshots.c.parent == key)).first():
                raise FailedPrecondition(f"cannot remove snapshot {key!r} with child")
            conn.execute(delete(snapshots).where(snapshots.c.id == row.id))
        self._rmtree(self.snapshot_dir(row.id))

    def _rmtree(self, d: str) -> None:
        # a directory that fails to go (still mounted) is left for cleanup()
        try:
            shutil.rmtree(d)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("cannot remove snapshot directory",
                        extra={"path": d, "error": str(e)})

    def update(self, namespace: str, info: Info, paths: Sequence[str] = ()) -> Info:
        """Only labels may change."""
        fields = list(paths) or ["labels"]
        for p in fields:
            if p != "labels" and not p.startswith("labels."):
                raise InvalidArgument(f"cannot update {p!r} field on snapshot {info.name!r}")
        with common.write(self.engine, namespace) as conn:
            row = self._get(conn, namespace, info.name)
            cur = _info(row)
            labels = common.apply_label_paths(cur.labels, info.labels, fields)
            cur.labels = labels if labels is not None else cur.labels
            cur.updated_at = common.now()
            conn.execute(update(snapshots).where(snapshots.c.id == row.id).values(
                labels=common.dump_labels(cur.labels), updated_at=cur.updated_at))
        return cur

    def usage(self, namespace: str, key: str) -> Usage:
        """Disk usage of the snapshot's own files (its upper directory)."""
        with self.engine.connect() as conn:
            row = self._get(conn, namespace, key)
        return disk_usage(self.upper_path(row.id))

    def cleanup(self) -> builtins.list[str]:
        """Remove snapshot directories no record names (left by crashes or failed removes)."""
        with self.engine.connect() as conn:
            ids = {str(r[0]) for r in conn.execute(select(snapshots.c.id).where(
                snapshots.c.snapshotter == self.name))}
        removed = []
        base = os.path.join(self.root, "snapshots")
        for name in os.listdir(base):
            if name not in ids:
                self._rmtree(os.path.join(base, name))
                removed.append(name)
        return removed


def disk_usage(path: str) -> Usage:
    """Bytes (allocated blocks) and inodes under `path`, hard links counted once."""
    seen: set[tuple[int, int]] = set()
    size = inodes = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for n in [*dirnames, *filenames, ""] if dirpath == path else [*dirnames, *filenames]:
            try:
                st = os.lstat(os.path.join(dirpath, n) if n else dirpath)
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            inodes += 1
            size += st.st_blocks * 512
    return Usage(size, inodes)
