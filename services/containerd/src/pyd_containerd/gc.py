"""Garbage collection of content and snapshots nothing refers to (containerd's gc/ and
metadata/gc.go), one namespace per transaction.

Roots: image targets, container snapshots, the resources of unexpired leases,
and records labelled `containerd.io/gc.root`. References are followed through
upstream's labels (`containerd.io/gc.ref.content.*` → blob,
`containerd.io/gc.ref.snapshot.<snapshotter>*` → snapshot), through the JSON
of indexes and manifests (so images made by clients that set no labels stay
whole), and from each snapshot to its parent. Whatever is not reached is
removed; a blob leaves the disk once no namespace records it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select

from pyd_containerd.leases.store import CONTENT, SNAPSHOTS_PREFIX
from pyd_containerd.metadata import common
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.metadata.schema import (
    containers,
    content,
    images,
    lease_resources,
    leases,
    namespaces,
    snapshots,
)
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import NotFound, Unavailable

log = logging.getLogger("pyd.containerd.gc")

LABEL_ROOT = "containerd.io/gc.root"
LABEL_REF_CONTENT = "containerd.io/gc.ref.content"
LABEL_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot."
LABEL_EXPIRE = "containerd.io/gc.expire"
MAX_JSON_WALK = 8 << 20
INGEST_TTL = timedelta(days=1)

# a resource: ("content", digest) or ("snapshots/<snapshotter>", key)
Ref = tuple[str, str]


@dataclass
class Stats:
    content: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    leases: list[str] = field(default_factory=list)
    orphan_blobs: list[str] = field(default_factory=list)
    ingests: list[str] = field(default_factory=list)


def _expired(labels: dict[str, str], now: datetime) -> bool:
    value = labels.get(LABEL_EXPIRE)
    if not value:
        return False
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) < now


def _label_refs(labels: dict[str, str]) -> Iterable[Ref]:
    for k, v in labels.items():
        if k == LABEL_REF_CONTENT or k.startswith(LABEL_REF_CONTENT + "."):
            yield CONTENT, v
        elif k.startswith(LABEL_REF_SNAPSHOT):
            sn = k.removeprefix(LABEL_REF_SNAPSHOT).split("/", 1)[0].split(".", 1)[0]
            yield SNAPSHOTS_PREFIX + sn, v


class GarbageCollector:
    """Marks from the roots and sweeps the rest; one run at a time."""

    def __init__(self, engine: Engine, content_store: ContentStore,
                 snapshotters: dict[str, OverlaySnapshotter], *,
                 active_grace: timedelta = timedelta(0)) -> None:
        """`active_grace`: active and view snapshots younger than this survive a full
        collection, so a client that prepares a container's rootfs and then records
        the container (dockerd does) is not raced by a collection in between."""
        self.engine = engine
        self.active_grace = active_grace
        self.content = content_store
        self.snapshotters = snapshotters
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()

    def schedule(self, delay: float = 1.0) -> None:
        """Collect soon in the background (upstream's GC after a deletion); calls within
        `delay` of each other share one run."""
        with self._timer_lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(delay, self._scheduled)
            self._timer.daemon = True
            self._timer.start()

    def _scheduled(self) -> None:
        with self._timer_lock:
            self._timer = None
        try:
            self.collect()
        except Exception:
            log.exception("scheduled garbage collection failed")

    def stop(self) -> None:
        """Cancel a scheduled run (daemon shutdown)."""
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _json_children(self, digest: str) -> Iterable[str]:
        try:
            path = self.content.local.blob_path(digest)
            if os.path.getsize(path) > MAX_JSON_WALK:
                return []
            with open(path, "rb") as f:
                head = f.read(1)
                if head != b"{":
                    return []
                doc = json.loads(head + f.read())
        except (OSError, ValueError):
            return []
        out: list[str] = []
        if not isinstance(doc, dict):
            return out
        for key in ("manifests", "layers"):
            for d in doc.get(key) or []:
                if isinstance(d, dict) and isinstance(d.get("digest"), str):
                    out.append(d["digest"])
        cfg = doc.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("digest"), str):
            out.append(cfg["digest"])
        return out

    def _mark(self, conn: Connection, ns: str, now: datetime) -> tuple[set[Ref], list[str]]:
        roots: list[Ref] = []
        expired: list[str] = []
        for r in conn.execute(select(images.c.target_digest).where(images.c.namespace == ns)):
            roots.append((CONTENT, r[0]))
        for r in conn.execute(select(containers.c.snapshotter, containers.c.snapshot_key)
                              .where(containers.c.namespace == ns)):
            if r[0] and r[1]:
                roots.append((SNAPSHOTS_PREFIX + r[0], r[1]))
        live_leases = []
        for r in conn.execute(select(leases.c.id, leases.c.labels)
                              .where(leases.c.namespace == ns)):
            if _expired(common.load_labels(r[1]), now):
                expired.append(r[0])
            else:
                live_leases.append(r[0])
        if live_leases:
            for r in conn.execute(select(lease_resources.c.type, lease_resources.c.resource)
                                  .where(lease_resources.c.namespace == ns,
                                         lease_resources.c.lease.in_(live_leases))):
                roots.append((r[0], r[1]))
        content_labels = {r[0]: common.load_labels(r[1]) for r in conn.execute(
            select(content.c.digest, content.c.labels).where(content.c.namespace == ns))}
        snaps: dict[Ref, tuple[str, dict[str, str]]] = {}
        for r in conn.execute(select(snapshots.c.snapshotter, snapshots.c.key,
                                     snapshots.c.parent, snapshots.c.labels)
                              .where(snapshots.c.namespace == ns)):
            snaps[(SNAPSHOTS_PREFIX + r[0], r[1])] = (r[2], common.load_labels(r[3]))
        roots += [(CONTENT, d) for d, lb in content_labels.items() if LABEL_ROOT in lb]
        roots += [ref for ref, (_, lb) in snaps.items() if LABEL_ROOT in lb]
        marked: set[Ref] = set()
        todo = list(roots)
        while todo:
            ref = todo.pop()
            if ref in marked:
                continue
            marked.add(ref)
            kind, id = ref
            if kind == CONTENT:
                if id in content_labels:
                    todo.extend(_label_refs(content_labels[id]))
                    todo.extend((CONTENT, c) for c in self._json_children(id))
            elif ref in snaps:
                parent, labels = snaps[ref]
                if parent:
                    todo.append((kind, parent))
                todo.extend(_label_refs(labels))
        return marked, expired

    def collect(self, only_namespaces: Iterable[str] | None = None,
                only: set[Ref] | None = None) -> Stats:
        """Remove what no root reaches, in every namespace (or those named).

        With `only`, nothing outside that set of (type, id) is swept: an
        operation rolling back its own lease uses it.
        """
        stats = Stats()
        with self._lock:
            now = datetime.now(UTC)
            if only_namespaces is None:
                with self.engine.connect() as conn:
                    names = [r[0] for r in conn.execute(select(namespaces.c.name))]
            else:
                names = list(only_namespaces)
            for ns in names:
                try:
                    self._collect_ns(ns, now, only, stats)
                except NotFound:  # the namespace went away meanwhile
                    continue
            if only is None:
                self._orphans(stats)
                self._stale_ingests(now, stats)
        if stats.content or stats.snapshots or stats.leases or stats.orphan_blobs:
            log.info("garbage collected", extra={
                "content": len(stats.content), "snapshots": len(stats.snapshots),
                "leases": len(stats.leases), "orphans": len(stats.orphan_blobs)})
        return stats

    def _collect_ns(self, ns: str, now: datetime, only: set[Ref] | None, stats: Stats) -> None:
        dirs: list[str] = []
        try:
            with common.write(self.engine, ns) as conn:
                marked, expired = self._mark(conn, ns, now)
                if expired:
                    conn.execute(delete(leases).where(leases.c.namespace == ns,
                                                      leases.c.id.in_(expired)))
                    stats.leases += expired
                    marked, _ = self._mark(conn, ns, now)
                for r in conn.execute(select(content.c.digest).where(
                        content.c.namespace == ns)).all():
                    ref = (CONTENT, r[0])
                    if ref in marked or (only is not None and ref not in only):
                        continue
                    conn.execute(delete(content).where(content.c.namespace == ns,
                                                       content.c.digest == r[0]))
                    stats.content.append(r[0])
                    if not conn.execute(select(content.c.digest)
                                        .where(content.c.digest == r[0])).first():
                        try:
                            os.unlink(self.content.local.blob_path(r[0]))
                        except FileNotFoundError:
                            pass
                for r in conn.execute(select(snapshots.c.id, snapshots.c.snapshotter,
                                             snapshots.c.key, snapshots.c.kind,
                                             snapshots.c.created_at)
                                      .where(snapshots.c.namespace == ns)).all():
                    ref = (SNAPSHOTS_PREFIX + r.snapshotter, r.key)
                    if ref in marked or (only is not None and ref not in only):
                        continue
                    created = common.utc(r.created_at)
                    if (only is None and r.kind != "committed" and created is not None
                            and now - created < self.active_grace):
                        continue
                    sn = self.snapshotters.get(r.snapshotter)
                    conn.execute(delete(snapshots).where(snapshots.c.id == r.id))
                    stats.snapshots.append(r.key)
                    if sn is not None:
                        dirs.append(sn.snapshot_dir(r.id))
        except Exception:
            log.exception("garbage collection failed", extra={"namespace": ns})
            raise
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    def _stale_ingests(self, now: datetime, stats: Stats) -> None:
        """Ingests nobody wrote to for INGEST_TTL (an abandoned pull or write)."""
        for st in self.content.local.statuses():
            if now - st.updated_at > INGEST_TTL:
                try:
                    self.content.local.abort(st.ref)
                    stats.ingests.append(st.ref)
                except (NotFound, Unavailable):  # finished or being written right now
                    continue

    def _orphans(self, stats: Stats) -> None:
        """Blobs on disk no namespace records (a crash between rename and record)."""
        with self.engine.begin() as conn:
            conn.execute(delete(content).where(content.c.digest == ""))  # take the write lock
            known = {r[0] for r in conn.execute(select(content.c.digest).distinct())}
            for d in self.content.local.blobs():
                if d not in known:
                    try:
                        os.unlink(self.content.local.blob_path(d))
                        stats.orphan_blobs.append(d)
                    except FileNotFoundError:
                        pass
