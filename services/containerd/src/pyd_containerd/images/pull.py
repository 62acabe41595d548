"""Pulling images from an OCI distribution (v2) registry.

    GET /v2/<name>/manifests/<tag|digest>   index or manifest (Accept: all four types)
    GET /v2/<name>/blobs/<digest>           config and layers

An index (or Docker manifest list) is resolved to the manifest for the
platform asked (linux/amd64). A 401 with a `Bearer realm=...,service=...,
scope=...` challenge sends the caller's credentials (if any) to the token
service and retries with the token; a `Basic` challenge is answered with the
credentials directly. Every byte is checked against its digest: a registry
that serves a manifest or blob whose digest lies is refused and, as with any
failure, what the pull wrote goes with its lease: no partial image remains.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.client import HTTPResponse
from typing import Any

from pyd_containerd import images as mt
from pyd_containerd.gc import LABEL_EXPIRE, GarbageCollector
from pyd_containerd.images import Descriptor, reference
from pyd_containerd.images.store import Image, ImageStore
from pyd_containerd.images.unpack import (
    DEFAULT_PLATFORM,
    Unpacker,
    platform_matches,
    set_children_labels,
)
from pyd_containerd.leases.store import CONTENT, Lease, LeaseStore, Resource
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)

log = logging.getLogger("pyd.containerd.pull")

ACCEPT = ", ".join([mt.OCI_INDEX, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
MAX_MANIFEST = 4 << 20
CHUNK = 1 << 20
TIMEOUT = 60.0
LEASE_TTL = timedelta(hours=1)
PARALLEL = 3
LOCK_WAIT = 600.0  # how long a pull waits for another one writing the same blob
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class PullOptions:
    username: str = ""
    password: str = ""
    plain_http: bool = False
    unpack: bool = True
    snapshotter: str = "overlayfs"
    platform: str = DEFAULT_PLATFORM
    labels: dict[str, str] = field(default_factory=dict)
    insecure_skip_verify: bool = False


@dataclass
class Progress:
    status: str  # resolved, downloading, exists, done, unpacking
    id: str = ""
    current: int = 0
    total: int = 0


class Registry:
    """A minimal distribution client for one repository, with token auth."""

    def __init__(self, ref: reference.Reference, opts: PullOptions) -> None:
        host = "registry-1.docker.io" if ref.domain == reference.DEFAULT_DOMAIN else ref.domain
        scheme = "http" if opts.plain_http else "https"
        self.repo = ref.path
        self.base = f"{scheme}://{host}/v2/{ref.path}"
        # Docker treats loopback registries as insecure: https first, then plain http
        self.may_downgrade = not opts.plain_http and _is_loopback(host)
        self.opts = opts
        self.auth_header = ""
        self.ctx: ssl.SSLContext | None = None
        if opts.insecure_skip_verify:
            self.ctx = ssl.create_default_context()
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE

    def _basic(self) -> str:
        raw = f"{self.opts.username}:{self.opts.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _request(self, url: str, headers: dict[str, str]) -> HTTPResponse:
        if self.base.startswith("http://") and url.startswith("https://"):
            url = "http://" + url.removeprefix("https://")  # downgraded earlier
        if self.may_downgrade:
            try:
                return self._request_once(url, headers)
            except urllib.error.HTTPError:
                self.may_downgrade = False  # it speaks https
                raise
            except (urllib.error.URLError, OSError) as e:
                log.info("registry does not speak https, trying http",
                         extra={"url": url, "error": str(e)})
                self.may_downgrade = False
                self.base = "http://" + self.base.removeprefix("https://")
                url = "http://" + url.removeprefix("https://")
        return self._request_once(url, headers)

    def _request_once(self, url: str, headers: dict[str, str]) -> HTTPResponse:
        req = urllib.request.Request(url, headers=headers)
        if self.auth_header:
            req.add_header("Authorization", self.auth_header)
        resp = urllib.request.urlopen(req, timeout=TIMEOUT, context=self.ctx)
        return resp  # type: ignore[no-any-return]

    def open(self, url: str, headers: dict[str, str] | None = None) -> HTTPResponse:
        """GET `url`, answering one auth challenge; typed errors for HTTP failures."""
        headers = headers or {}
        try:
            try:
                return self._request(url, headers)
            except urllib.error.HTTPError as e:
                if e.code != 401 or self.auth_header.startswith("Bearer"):
                    raise
                challenge = e.headers.get("WWW-Authenticate", "")
                e.close()
                self._authenticate(challenge)
                return self._request(url, headers)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 404:
                raise NotFound(f"{url}: not found") from e
            if e.code in (401, 403):
                raise FailedPrecondition(f"{url}: unauthorized ({e.code})") from e
            raise Unavailable(f"{url}: registry answered {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError) as e:
            raise Unavailable(f"{url}: {getattr(e, 'reason', e)}") from e

    def _authenticate(self, challenge: str) -> None:
        scheme, _, rest = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(rest))
        if scheme.lower() == "basic":
            if not self.opts.username:
                raise FailedPrecondition("registry wants credentials (basic auth)")
            self.auth_header = self._basic()
            return
        if scheme.lower() != "bearer" or ("realm" in params and not params["realm"]):
            raise FailedPrecondition(f"unsupported registry auth challenge {challenge!r}")
        query = {"service": params.get("service", ""),
                 "scope": params.get("scope") or f"repository:{self.repo}:pull"}
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + \
            urllib.parse.urlencode({k: v for k, v in query.items() if v})
        req = urllib.request.Request(url)
        if self.opts.username:
            req.add_header("Authorization", self._basic())
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT, context=self.ctx) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise FailedPrecondition(f"token service {params['realm']}: "
                                     f"unauthorized ({e.code})") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise Unavailable(f"token service {params['realm']}: {e}") from e
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not token:
            raise FailedPrecondition(f"token service {params['realm']} returned no token")
        self.auth_header = f"Bearer {token}"

    def manifest(self, ref: str) -> tuple[str, bytes, str]:
        """(media type, body, Docker-Content-Digest header) of a manifest or index."""
        with self.open(f"{self.base}/manifests/{ref}", {"Accept": ACCEPT}) as resp:
            body = resp.read(MAX_MANIFEST + 1)
            if len(body) > MAX_MANIFEST:
                raise InvalidArgument(f"manifest {ref} larger than {MAX_MANIFEST} bytes")
            media = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            return media, body, resp.headers.get("Docker-Content-Digest", "")

    def blob(self, digest: str, headers: dict[str, str] | None = None) -> HTTPResponse:
        return self.open(f"{self.base}/blobs/{digest}", headers)


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Puller:
    """Pull into a namespace: blobs → content, layers → snapshots, then the image record."""

    def __init__(self, image_store: ImageStore, content: ContentStore,
                 snapshotters: dict[str, OverlaySnapshotter], leases: LeaseStore,
                 gc: GarbageCollector) -> None:
        self.images = image_store
        self.content = content
        self.snapshotters = snapshotters
        self.leases = leases
        self.gc = gc

    def pull(self, ns: str, ref: str, opts: PullOptions | None = None,
             progress: Callable[[Progress], None] | None = None) -> Image:
        """Pull `ref` (normalized as Docker does) and return its image record."""
        opts = opts or PullOptions()
        report = progress or (lambda _p: None)
        parsed = reference.parse(ref)
        sn = self.snapshotters.get(opts.snapshotter)
        if opts.unpack and sn is None:
            raise InvalidArgument(f"snapshotter not loaded: {opts.snapshotter}")
        expire = (datetime.now(UTC) + LEASE_TTL).isoformat()
        lease = self.leases.create(ns, Lease(f"pyd-pull-{secrets.token_hex(6)}",
                                             {LABEL_EXPIRE: expire})).id
        try:
            reg = Registry(parsed, opts)
            target = self._fetch_tree(ns, reg, parsed, opts, lease, report)
            set_children_labels(self.content, ns, target)
            if opts.unpack and sn is not None:
                report(Progress("unpacking", target.digest))
                Unpacker(self.content, sn, self.leases).unpack(ns, target, opts.platform, lease)
            img = self.images.put(ns, Image(str(parsed), target, dict(opts.labels)))
        except BaseException:
            self._rollback(ns, lease)
            raise
        self.leases.delete(ns, lease)
        log.info("pulled", extra={"namespace": ns, "image": img.name,
                                  "digest": target.digest})
        return img

    def _rollback(self, ns: str, lease: str) -> None:
        try:
            held = {(r.type, r.id) for r in self.leases.resources(ns, lease)}
            self.leases.delete(ns, lease)
            self.gc.collect([ns], only=held)
        except Exception:
            log.exception("pull rollback failed", extra={"lease": lease})

    def _fetch_tree(self, ns: str, reg: Registry, ref: reference.Reference, opts: PullOptions,
                    lease: str, report: Callable[[Progress], None]) -> Descriptor:
        media, body, header = reg.manifest(ref.digest or ref.tag)
        digest = _sha(body)
        if ref.digest and ref.digest != digest:
            raise FailedPrecondition(f"manifest digest {digest} does not match the "
                                     f"reference's {ref.digest}")
        if header and header != digest:
            raise FailedPrecondition(f"manifest digest {digest} does not match the "
                                     f"registry's Docker-Content-Digest {header}")
        media = media or _guess_media_type(body)
        target = Descriptor(media, digest, len(body))
        report(Progress("resolved", digest, len(body), len(body)))
        self._put(ns, lease, body, digest)
        manifest_desc, doc = target, _json(body, digest)
        if media in mt.INDEX_TYPES:
            picks = [Descriptor.from_json(m) for m in doc.get("manifests") or []
                     if isinstance(m, dict)]
            match = [m for m in picks if platform_matches(m.platform, opts.platform)]
            if not match:
                raise NotFound(f"{ref}: no manifest for platform {opts.platform}")
            manifest_desc = match[0]
            mmedia, mbody, _ = reg.manifest(manifest_desc.digest)
            if mmedia not in mt.MANIFEST_TYPES and manifest_desc.media_type not in \
                    mt.MANIFEST_TYPES:
                raise InvalidArgument(f"{ref}: platform manifest has media type {mmedia!r}")
            if _sha(mbody) != manifest_desc.digest:
                raise FailedPrecondition(f"manifest {manifest_desc.digest}: content digest "
                                         f"{_sha(mbody)} does not match")
            self._put(ns, lease, mbody, manifest_desc.digest)
            doc = _json(mbody, manifest_desc.digest)
        elif media not in mt.MANIFEST_TYPES:
            raise InvalidArgument(f"{ref}: unsupported manifest media type {media!r}")
        blobs = [Descriptor.from_json(doc.get("config") or {})]
        blobs += [Descriptor.from_json(x) for x in doc.get("layers") or []]
        # a few blobs at a time, as upstream's fetcher does
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="pull") as pool:
            futures = [pool.submit(self._fetch_blob, ns, reg, b, lease, report) for b in blobs]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the pull failed: start nothing more
                raise
        return target

    def _put(self, ns: str, lease: str, body: bytes, digest: str) -> None:
        self.leases.add_resource(ns, lease, Resource(digest, CONTENT))
        self.content.write_blob(ns, f"{lease}-{digest}", body, expected=digest,
                                size=len(body))

    def _fetch_blob(self, ns: str, reg: Registry, d: Descriptor, lease: str,
                    report: Callable[[Progress], None]) -> None:
        """Download one blob into the content store, resuming a partial download (its
        ingest `pull-<digest>` survives failures) with a Range request."""
        if not d.digest:
            raise InvalidArgument("manifest names a blob without a digest")
        self.leases.add_resource(ns, lease, Resource(d.digest, CONTENT))
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                w = self.content.writer(ns, f"pull-{d.digest}", d.size, d.digest)
                break
            except AlreadyExists:
                report(Progress("exists", d.digest, d.size, d.size))
                return
            except Unavailable:  # another pull writes this blob now: wait for it
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with w:
            headers = {}
            if d.size and 0 < w.offset < d.size:
                headers["Range"] = f"bytes={w.offset}-"
            elif w.offset:
                w.truncate(0)
            with reg.blob(d.digest, headers) as resp:
                if headers and resp.status != 206:  # the registry ignored the range
                    w.truncate(0)
                elif headers:
                    report(Progress("resuming", d.digest, w.offset, d.size))
                while chunk := resp.read(CHUNK):
                    w.write(chunk)
                    if d.size and w.offset > d.size:
                        break
                    report(Progress("downloading", d.digest, w.offset, d.size))
            try:
                w.commit(d.size, d.digest)
            except AlreadyExists:
                pass
        report(Progress("done", d.digest, d.size, d.size))


def _json(body: bytes, digest: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise InvalidArgument(f"manifest {digest}: invalid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidArgument(f"manifest {digest}: not a JSON object")
    return doc


def _guess_media_type(body: bytes) -> str:
    doc = _json(body, _sha(body))
    if isinstance(doc.get("mediaType"), str):
        return str(doc["mediaType"])
    return mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
