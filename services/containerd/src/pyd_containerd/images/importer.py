"""Importing images from archives (containerd's `ctr images import`, Docker's load/import).

Three kinds of input, all read from one seekable (possibly gzipped) tar:

- `docker save` archives: `manifest.json` (Config, RepoTags, Layers) with the
  config and layer tars (gzipped or not) inside;
- OCI image layouts: `oci-layout`, `index.json`, `blobs/sha256/<hex>`;
- plain root filesystem tarballs (`kind="rootfs"`, Docker's `import`): the
  tar becomes the single layer of a new image.

Blobs go into the content store, layers are unpacked into committed overlay
snapshots (chain IDs), and only then are image records written. Everything
is held by a lease while it is built; on any failure the lease goes and what
the import wrote, and nothing else refers to, is collected: a corrupt archive
is InvalidArgument and leaves no half-written records or snapshots.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import tarfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from pyd_containerd import images as mt
from pyd_containerd.gc import LABEL_EXPIRE, GarbageCollector
from pyd_containerd.images import Descriptor, archive, reference
from pyd_containerd.images.store import Image, ImageStore
from pyd_containerd.images.unpack import (
    DEFAULT_PLATFORM,
    Unpacker,
    resolve,
    set_children_labels,
)
from pyd_containerd.leases.store import CONTENT, Lease, LeaseStore, Resource
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound

log = logging.getLogger("pyd.containerd.images")

LEASE_TTL = timedelta(hours=1)


@dataclass
class ImportOptions:
    kind: str = "archive"  # "archive" (docker save or OCI layout) or "rootfs"
    name: str = ""  # rootfs: the new image's name; OCI layouts: base name for bare tags
    unpack: bool = True
    snapshotter: str = "overlayfs"
    platform: str = DEFAULT_PLATFORM
    labels: dict[str, str] = field(default_factory=dict)
    # rootfs: the image config's `config` section (Cmd, Env, WorkingDir ...)
    config: dict[str, Any] = field(default_factory=dict)
    normalize: bool = True  # store docker.io/library/busybox:latest for busybox


def _hash_file(f: IO[bytes]) -> tuple[str, int, bytes]:
    """(digest, size, first bytes) of a member, leaving it at offset 0."""
    h = hashlib.sha256()
    size = 0
    head = b""
    f.seek(0)
    while chunk := f.read(1 << 20):
        if not head:
            head = chunk[:8]
        h.update(chunk)
        size += len(chunk)
    f.seek(0)
    return "sha256:" + h.hexdigest(), size, head


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class Importer:
    """Import archives into a namespace; see the module docstring."""

    def __init__(self, image_store: ImageStore, content: ContentStore,
                 snapshotters: dict[str, OverlaySnapshotter], leases: LeaseStore,
                 gc: GarbageCollector) -> None:
        self.images = image_store
        self.content = content
        self.snapshotters = snapshotters
        self.leases = leases
        self.gc = gc

    # the public entry points

    def import_file(self, ns: str, path: str, opts: ImportOptions | None = None) -> list[Image]:
        with open(path, "rb") as f:
            return self.import_stream(ns, f, opts)

    def import_stream(self, ns: str, f: IO[bytes],
                      opts: ImportOptions | None = None) -> list[Image]:
        """Import from a seekable file object; the images created (or re-pointed)."""
        opts = opts or ImportOptions()
        sn = self.snapshotters.get(opts.snapshotter)
        if opts.unpack and sn is None:
            raise InvalidArgument(f"snapshotter not loaded: {opts.snapshotter}")
        expire = (datetime.now(UTC) + LEASE_TTL).isoformat()
        lease = self.leases.create(ns, Lease(f"pyd-import-{secrets.token_hex(6)}",
                                             {LABEL_EXPIRE: expire})).id
        try:
            try:
                targets = self._import(ns, f, opts, lease)
                if opts.unpack and sn is not None:
                    unpacker = Unpacker(self.content, sn, self.leases)
                    for _, desc in targets:
                        unpacker.unpack(ns, desc, opts.platform, lease)
            except FailedPrecondition as e:  # a blob whose digest lies
                raise InvalidArgument(f"corrupt archive: {e}") from e
            except (tarfile.TarError, EOFError, zlib.error) as e:
                raise InvalidArgument(f"corrupt archive: {e}") from e
            out = [self.images.put(ns, Image(name, desc, dict(opts.labels)))
                   for name, desc in targets]
        except BaseException:
            self._rollback(ns, lease)
            raise
        self.leases.delete(ns, lease)
        log.info("imported", extra={"namespace": ns, "images": ",".join(i.name for i in out)})
        return out

    def unpack(self, ns: str, name: str, snapshotter: str = "overlayfs",
               platform: str = DEFAULT_PLATFORM) -> str:
        """Unpack image `name` (already in the content store) into committed snapshots;
        its top chain ID. Layers already unpacked are kept as they are."""
        sn = self.snapshotters.get(snapshotter)
        if sn is None:
            raise InvalidArgument(f"snapshotter not loaded: {snapshotter}")
        img = self.images.get(ns, name)
        expire = (datetime.now(UTC) + LEASE_TTL).isoformat()
        lease = self.leases.create(ns, Lease(f"pyd-unpack-{secrets.token_hex(6)}",
                                             {LABEL_EXPIRE: expire})).id
        try:
            set_children_labels(self.content, ns, img.target)
            chain = Unpacker(self.content, sn, self.leases).unpack(ns, img.target, platform,
                                                                  lease)
        except BaseException:
            self._rollback(ns, lease)
            raise
        self.leases.delete(ns, lease)
        return chain

    def _rollback(self, ns: str, lease: str) -> None:
        try:
            held = {(r.type, r.id) for r in self.leases.resources(ns, lease)}
            self.leases.delete(ns, lease)
            self.gc.collect([ns], only=held)
        except Exception:  # the original error matters more; the lease expires anyway
            log.exception("import rollback failed", extra={"lease": lease})

    # writing blobs under the lease

    def _put(self, ns: str, lease: str, data: bytes | IO[bytes], digest: str = "",
             size: int = 0) -> str:
        if not digest:
            if isinstance(data, bytes):
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
            else:
                digest, size, _ = _hash_file(data)
        self.leases.add_resource(ns, lease, Resource(digest, CONTENT))
        # a ref per lease: parallel imports of the same blob do not wait on each other
        return self.content.write_blob(ns, f"{lease}-{digest}", data, expected=digest,
                                       size=size)

    def _name(self, name: str, opts: ImportOptions) -> str:
        return reference.normalize(name) if opts.normalize else name

    def _import(self, ns: str, f: IO[bytes], opts: ImportOptions,
                lease: str) -> list[tuple[str, Descriptor]]:
        if opts.kind == "rootfs":
            return self._import_rootfs(ns, f, opts, lease)
        if opts.kind != "archive":
            raise InvalidArgument(f"unknown import kind {opts.kind!r}")
        try:
            tf = tarfile.open(fileobj=f, mode="r:*")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise InvalidArgument(f"not a tar archive: {_why(e)}") from e
        with tf:
            members = {archive.clean(m.name): m for m in tf.getmembers()}
            if "index.json" in members and ("oci-layout" in members
                                            or "manifest.json" not in members):
                return self._import_oci(ns, tf, members, opts, lease)
            if "manifest.json" in members:
                return self._import_docker(ns, tf, members, opts, lease)
        raise InvalidArgument("not an image archive: no manifest.json or index.json "
                              "(import a root filesystem with kind=rootfs)")

    def _member(self, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                name: str) -> IO[bytes]:
        m = members.get(archive.clean(name))
        if m is None or not m.isreg():
            raise InvalidArgument(f"archive lacks {name!r}")
        fobj = tf.extractfile(m)
        if fobj is None:
            raise InvalidArgument(f"archive lacks {name!r}")
        return fobj

    def _read_json(self, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   name: str) -> Any:
        try:
            return json.loads(self._member(tf, members, name).read())
        except ValueError as e:
            raise InvalidArgument(f"{name}: invalid JSON: {e}") from e

    def _import_docker(self, ns: str, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                       opts: ImportOptions, lease: str) -> list[tuple[str, Descriptor]]:
        manifests = self._read_json(tf, members, "manifest.json")
        if not isinstance(manifests, list) or not manifests:
            raise InvalidArgument("manifest.json: want a non-empty list")
        out: list[tuple[str, Descriptor]] = []
        for entry in manifests:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                raise InvalidArgument("manifest.json: entry without Config")
            config = self._member(tf, members, entry["Config"]).read()
            try:
                cfg_doc = json.loads(config)
            except ValueError as e:
                raise InvalidArgument(f"{entry['Config']}: invalid JSON: {e}") from e
            diff_ids = ((cfg_doc.get("rootfs") or {}).get("diff_ids") or []
                        if isinstance(cfg_doc, dict) else [])
            layers_in = entry.get("Layers") or []
            if len(diff_ids) != len(layers_in):
                raise InvalidArgument(f"{entry['Config']}: {len(layers_in)} layers but "
                                      f"{len(diff_ids)} diff IDs")
            cfg_digest = self._put(ns, lease, config)
            layers = []
            for name in layers_in:
                fobj = self._member(tf, members, name)
                digest, size, head = _hash_file(fobj)
                self._put(ns, lease, fobj, digest, size)
                gz = archive.compression_of(head) == "gzip"
                layers.append({"mediaType": mt.DOCKER_LAYER_GZIP if gz else mt.DOCKER_LAYER,
                               "digest": digest, "size": size})
            # key order as Go marshals ocispec descriptors: the same archive gives the
            # same manifest digest as containerd's own import
            manifest = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
                        "config": {"mediaType": mt.DOCKER_CONFIG, "digest": cfg_digest,
                                   "size": len(config)},
                        "layers": layers}
            body = _json_bytes(manifest)
            mdesc = Descriptor(mt.DOCKER_MANIFEST, self._put(ns, lease, body), len(body))
            set_children_labels(self.content, ns, mdesc)
            tags = entry.get("RepoTags") or []
            names = [self._name(t, opts) for t in tags] or [_digest_name(mdesc.digest)]
            out += [(n, mdesc) for n in names]
        return out

    def _import_oci(self, ns: str, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                    opts: ImportOptions, lease: str) -> list[tuple[str, Descriptor]]:
        if "oci-layout" in members:
            layout = self._read_json(tf, members, "oci-layout")
            if not isinstance(layout, dict) or not str(
                    layout.get("imageLayoutVersion", "")).startswith("1."):
                raise InvalidArgument("oci-layout: unsupported imageLayoutVersion")
        index = self._read_json(tf, members, "index.json")
        if not isinstance(index, dict):
            raise InvalidArgument("index.json: not an object")
        for name, m in members.items():
            parts = name.split("/")
            if len(parts) != 3 or parts[0] != "blobs" or not m.isreg():
                continue
            if parts[1] != "sha256":
                raise InvalidArgument(f"{name}: only sha256 blobs are supported")
            fobj = self._member(tf, members, name)
            self._put(ns, lease, fobj, f"sha256:{parts[2]}", m.size)
        out: list[tuple[str, Descriptor]] = []
        for raw in index.get("manifests") or []:
            desc = Descriptor.from_json(raw)
            if not self.content.exists(ns, desc.digest):
                raise InvalidArgument(f"index.json names {desc.digest}, not in the archive")
            set_children_labels(self.content, ns, desc)
            if not opts.unpack:  # still check the image is whole for its platform
                try:
                    resolve(self.content, ns, desc, opts.platform)
                except NotFound:
                    pass
            ann = desc.annotations
            name = ann.get(mt.ANNOTATION_IMAGE_NAME, "")
            if not name:
                ref = ann.get(mt.ANNOTATION_REF_NAME, "")
                if ref and opts.name and ":" not in ref and "/" not in ref:
                    name = f"{opts.name}:{ref}"
                else:
                    name = ref
            name = self._name(name, opts) if name else _digest_name(desc.digest)
            desc.annotations = {}
            out.append((name, desc))
        if not out:
            raise InvalidArgument("index.json names no manifests")
        return out

    def _import_rootfs(self, ns: str, f: IO[bytes], opts: ImportOptions,
                       lease: str) -> list[tuple[str, Descriptor]]:
        digest, size, head = _hash_file(f)
        diff = _check_tar(f)
        self._put(ns, lease, f, digest, size)
        gz = archive.compression_of(head) == "gzip"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        config = {"architecture": "amd64", "os": "linux", "created": now,
                  "config": opts.config,
                  "rootfs": {"type": "layers", "diff_ids": [diff]},
                  "history": [{"created": now, "created_by": "pyd import"}]}
        cbody = _json_bytes(config)
        cdigest = self._put(ns, lease, cbody)
        manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                    "config": {"mediaType": mt.OCI_CONFIG, "digest": cdigest,
                               "size": len(cbody)},
                    "layers": [{"mediaType": mt.OCI_LAYER_GZIP if gz else mt.OCI_LAYER,
                                "digest": digest, "size": size}]}
        body = _json_bytes(manifest)
        mdesc = Descriptor(mt.OCI_MANIFEST, self._put(ns, lease, body), len(body))
        set_children_labels(self.content, ns, mdesc)
        name = self._name(opts.name, opts) if opts.name else _digest_name(mdesc.digest)
        return [(name, mdesc)]


def _why(e: BaseException) -> str:
    """The last line of tarfile's multi-line "could not be opened" message."""
    return str(e).splitlines()[-1].strip("- ") if str(e) else type(e).__name__


def _digest_name(digest: str) -> str:
    """ctr's name for an untagged import: import-<date>@<digest>."""
    return f"import-{datetime.now(UTC).strftime('%Y-%m-%d')}@{digest}"


def _check_tar(f: IO[bytes]) -> str:
    """Read the whole (possibly compressed) tar once: its diff ID, or InvalidArgument."""
    h = archive._Hashing(archive.decompressed(f))
    try:
        with tarfile.open(fileobj=h, mode="r|") as tf:  # type: ignore[call-overload]
            for _ in tf:
                pass
        digest = h.digest()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise InvalidArgument(f"not a tar archive: {_why(e)}") from e
    finally:
        f.seek(0)
    return digest
