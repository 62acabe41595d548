"""Walking an image in the content store and unpacking its layers into snapshots.

Snapshot names are chain IDs as upstream computes them (identity.ChainID):
chain(L0) = diffID(L0); chain(L0..n) = sha256(chain(L0..n-1) + " " + diffID(Ln)).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from pyd_containerd import images as mt
from pyd_containerd.images import Descriptor, archive
from pyd_containerd.leases.store import SNAPSHOTS_PREFIX, LeaseStore, Resource
from pyd_containerd.metadata.content import ContentStore, Info
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound

log = logging.getLogger("pyd.containerd.images")

LABEL_SNAPSHOT_REF = "containerd.io/gc.ref.snapshot."
LABEL_UNCOMPRESSED = "containerd.io/uncompressed"
DEFAULT_PLATFORM = "linux/amd64"


def chain_ids(diff_ids: list[str]) -> list[str]:
    """identity.ChainIDs: the chain ID of every prefix of the layer list."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def chain_id(diff_ids: list[str]) -> str:
    return chain_ids(diff_ids)[-1] if diff_ids else ""


def parse_platform(spec: str) -> tuple[str, str, str]:
    parts = (spec or DEFAULT_PLATFORM).split("/")
    return parts[0], parts[1] if len(parts) > 1 else "amd64", parts[2] if len(parts) > 2 else ""


def platform_matches(p: dict[str, str] | None, want: str) -> bool:
    os_, arch, variant = parse_platform(want)
    if not p:
        return False
    if p.get("os") != os_ or p.get("architecture") != arch:
        return False
    return not variant or p.get("variant", "") in ("", variant)


def load_json(content: ContentStore, ns: str, digest: str) -> dict[str, Any]:
    try:
        doc = json.loads(content.read_all(ns, digest))
    except NotFound as e:
        raise InvalidArgument(f"blob {digest} missing from the image: {e}") from e
    except ValueError as e:
        raise InvalidArgument(f"blob {digest}: invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidArgument(f"blob {digest}: not a JSON object")
    return doc


@dataclass
class Resolved:
    """The platform's manifest of an image and its config."""

    manifest_desc: Descriptor
    manifest: dict[str, Any]
    config_desc: Descriptor
    config: dict[str, Any]
    layers: list[Descriptor]

    @property
    def diff_ids(self) -> list[str]:
        rootfs = self.config.get("rootfs") or {}
        return [str(d) for d in rootfs.get("diff_ids") or []]

    @property
    def chain_id(self) -> str:
        return chain_id(self.diff_ids)


def resolve(content: ContentStore, ns: str, target: Descriptor,
            platform: str = DEFAULT_PLATFORM) -> Resolved:
    """Follow indexes from `target` to the manifest for `platform` (linux/amd64)."""
    desc = target
    for _ in range(8):
        if desc.media_type in mt.INDEX_TYPES:
            index = load_json(content, ns, desc.digest)
            manifests = [Descriptor.from_json(m) for m in index.get("manifests") or []]
            picks = [m for m in manifests if platform_matches(m.platform, platform)]
            if not picks and len(manifests) == 1 and manifests[0].platform is None:
                picks = manifests
            if not picks:
                raise NotFound(f"image {target.digest}: no manifest for platform {platform}")
            desc = picks[0]
            continue
        if desc.media_type in mt.MANIFEST_TYPES:
            manifest = load_json(content, ns, desc.digest)
            cfg = Descriptor.from_json(manifest.get("config") or {})
            if not cfg.digest:
                raise InvalidArgument(f"manifest {desc.digest}: no config")
            layers = [Descriptor.from_json(x) for x in manifest.get("layers") or []]
            config = load_json(content, ns, cfg.digest)
            res = Resolved(desc, manifest, cfg, config, layers)
            if len(res.diff_ids) != len(layers):
                raise InvalidArgument(f"manifest {desc.digest}: {len(layers)} layers but "
                                      f"{len(res.diff_ids)} diff IDs in the config")
            return res
        raise InvalidArgument(f"unsupported media type {desc.media_type!r}")
    raise InvalidArgument(f"image {target.digest}: indexes nested too deep")


class Unpacker:
    """Applies an image's layers as committed overlay snapshots named by chain ID."""

    def __init__(self, content: ContentStore, snapshotter: OverlaySnapshotter,
                 leases: LeaseStore | None = None) -> None:
        self.content = content
        self.sn = snapshotter
        self.leases = leases

    def _hold(self, ns: str, lease: str, r: Resource) -> None:
        if lease and self.leases is not None:
            self.leases.add_resource(ns, lease, r)

    def unpack(self, ns: str, target: Descriptor, platform: str = DEFAULT_PLATFORM,
               lease: str = "") -> str:
        """Unpack every layer not already present; return the top chain ID."""
        res = resolve(self.content, ns, target, platform)
        chains = chain_ids(res.diff_ids)
        parent = ""
        kind = SNAPSHOTS_PREFIX + self.sn.name
        for layer, diff, chain in zip(res.layers, res.diff_ids, chains, strict=True):
            self._hold(ns, lease, Resource(chain, kind))
            try:
                self.sn.stat(ns, chain)
            except NotFound:
                self._apply(ns, layer, diff, chain, parent, lease)
            parent = chain
        top = chains[-1] if chains else ""
        if top:
            label = LABEL_SNAPSHOT_REF + self.sn.name
            self.content.update(ns, Info(res.config_desc.digest, labels={label: top}),
                                [f"labels.{label}"])
        return top

    def _apply(self, ns: str, layer: Descriptor, diff: str, chain: str, parent: str,
               lease: str) -> None:
        key = f"extract-{secrets.token_hex(6)} {chain}"
        # held from before it exists, so a collection meanwhile leaves it alone
        self._hold(ns, lease, Resource(key, SNAPSHOTS_PREFIX + self.sn.name))
        self.sn.prepare(ns, key, parent, {"containerd.io/snapshot.ref": chain})
        try:
            with self.content.open(ns, layer.digest) as f:
                actual = archive.apply(f, self.sn.path_of(ns, key), overlay=bool(parent))
            if actual != diff:
                raise InvalidArgument(f"layer {layer.digest}: diff ID {actual} does not "
                                      f"match the config's {diff}")
            try:
                self.sn.commit(ns, chain, key)
            except AlreadyExists:  # unpacked meanwhile by someone else
                self.sn.remove(ns, key)
        except NotFound as e:
            self.sn.remove(ns, key)
            raise InvalidArgument(f"layer {layer.digest} missing from the image: {e}") from e
        except BaseException:
            self.sn.remove(ns, key)
            raise
        log.debug("unpacked layer", extra={"layer": layer.digest, "chain": chain})


def set_children_labels(content: ContentStore, ns: str, desc: Descriptor) -> None:
    """Label an index/manifest blob with its children (gc.ref.content.*), as upstream does,
    recursing into child indexes and manifests."""
    if desc.media_type not in (*mt.INDEX_TYPES, *mt.MANIFEST_TYPES):
        return
    doc = load_json(content, ns, desc.digest)
    labels: dict[str, str] = {}
    children: list[Descriptor] = []
    if desc.media_type in mt.INDEX_TYPES:
        for i, m in enumerate(doc.get("manifests") or []):
            d = Descriptor.from_json(m)
            if content.exists(ns, d.digest):
                labels[f"containerd.io/gc.ref.content.m.{i}"] = d.digest
                children.append(d)
    else:
        cfg = Descriptor.from_json(doc.get("config") or {})
        labels["containerd.io/gc.ref.content.config"] = cfg.digest
        for i, m in enumerate(doc.get("layers") or []):
            labels[f"containerd.io/gc.ref.content.l.{i}"] = Descriptor.from_json(m).digest
    content.update(ns, Info(desc.digest, labels=labels), [f"labels.{k}" for k in labels])
    for c in children:
        set_children_labels(content, ns, c)
