"""Pull from a real registry (Debian's docker-registry) on loopback, with bearer-token auth
issued by a token server in the test (RS256 JWTs signed with openssl)."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from containerd_testimages import config_for, layer_tar, sha
from sqlalchemy import Engine

from pyd_containerd.content.local import LocalStore
from pyd_containerd.gc import GarbageCollector
from pyd_containerd.images.pull import Progress, Puller, PullOptions
from pyd_containerd.images.store import ImageStore
from pyd_containerd.images.unpack import chain_ids, resolve
from pyd_containerd.leases.store import LeaseStore
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import FailedPrecondition, NotFound

pytestmark = pytest.mark.skipif(
    not shutil.which("docker-registry") or not shutil.which("openssl"),
    reason="needs Debian's docker-registry and openssl")

USER, PASSWORD = "pyd", "secret"
SERVICE, ISSUER = "pyd-registry", "pyd-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TokenServer(http.server.ThreadingHTTPServer):
    key: str
    cert_der: bytes
    issued: int = 0


class TokenHandler(http.server.BaseHTTPRequestHandler):
    server: TokenServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        expect = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expect:
            self.send_response(401)
            self.end_headers()
            return
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        access = []
        for scope in q.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.server.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": USER, "aud": q.get("service", [""])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": os.urandom(8).hex(), "access": access}
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.server.key],
                             input=signing.encode(), capture_output=True, check=True).stdout
        body = json.dumps({"token": f"{signing}.{_b64(sig)}"}).encode()
        self.server.issued += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Registry:
    def __init__(self, addr: str, storage: Path, tokens: TokenServer) -> None:
        self.addr = addr
        self.storage = storage
        self.tokens = tokens

    def _token(self, scope: str) -> str:
        realm = f"http://127.0.0.1:{self.tokens.server_address[1]}/token"
        url = realm + "?" + urllib.parse.urlencode({"service": SERVICE, "scope": scope})
        req = urllib.request.Request(url, headers={"Authorization": "Basic " + base64.b64encode(
            f"{USER}:{PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(req) as r:
            return str(json.loads(r.read())["token"])

    def push(self, repo: str, tag: str, blobs: list[bytes], manifest: bytes,
             media_type: str) -> str:
        """Upload blobs and a manifest (monolithic uploads); the manifest digest."""
        auth = {"Authorization": "Bearer " + self._token(f"repository:{repo}:pull,push")}
        base = f"http://{self.addr}/v2/{repo}"
        for b in blobs:
            req = urllib.request.Request(f"{base}/blobs/uploads/", method="POST", headers=auth)
            with urllib.request.urlopen(req) as r:
                loc = r.headers["Location"]
            loc = urllib.parse.urljoin(base, loc)
            url = loc + ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": sha(b)})
            req = urllib.request.Request(url, data=b, method="PUT", headers={
                **auth, "Content-Type": "application/octet-stream"})
            urllib.request.urlopen(req).close()
        req = urllib.request.Request(f"{base}/manifests/{tag}", data=manifest, method="PUT",
                                     headers={**auth, "Content-Type": media_type})
        urllib.request.urlopen(req).close()
        return sha(manifest)

    def blob_file(self, digest: str) -> Path:
        hexd = digest.split(":")[1]
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    d = tmp_path_factory.mktemp("registry")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1",
                    "-subj", "/CN=pyd-token"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", str(d / "cert.pem"), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    tokens = TokenServer(("127.0.0.1", 0), TokenHandler)
    tokens.key, tokens.cert_der = str(d / "key.pem"), der
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    port = _free_port()
    (d / "config.yml").write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {d / "storage"}
http:
  addr: 127.0.0.1:{port}
auth:
  token:
    realm: http://127.0.0.1:{tokens.server_address[1]}/token
    service: {SERVICE}
    issuer: {ISSUER}
    rootcertbundle: {d / "cert.pem"}
""")
    proc = subprocess.Popen(["docker-registry", "serve", str(d / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "registry.log", "wb"))
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/").close()
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("registry did not start: " + (d / "registry.log").read_text())
        yield Registry(f"127.0.0.1:{port}", d / "storage", tokens)
    finally:
        proc.terminate()
        proc.wait(10)
        tokens.shutdown()


@pytest.fixture
def puller(engine: Engine, tmp_path: Path) -> Puller:
    content = ContentStore(engine, LocalStore(str(tmp_path / "content")))
    sn = OverlaySnapshotter(engine, str(tmp_path / "overlayfs"))
    gc = GarbageCollector(engine, content, {"overlayfs": sn})
    return Puller(ImageStore(engine), content, {"overlayfs": sn}, LeaseStore(engine), gc)


def _image(layers: list[bytes]) -> tuple[list[bytes], bytes]:
    import gzip

    gz = [gzip.compress(x, mtime=0) for x in layers]
    config = config_for(layers)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(g), "size": len(g)} for g in gz]}).encode()
    return [config, *gz], manifest


OPTS = PullOptions(username=USER, password=PASSWORD, plain_http=True)


def test_pull_index_with_bearer_token(registry: Registry, puller: Puller) -> None:
    l1 = layer_tar([("bin", "d", None), ("bin/sh", "f", "sh"), ("old", "f", "o")])
    l2 = layer_tar([(".wh.old", "f", ""), ("new", "f", "n")])
    blobs, manifest = _image([l1, l2])
    arm_blobs, arm_manifest = _image([layer_tar([("arm", "f", "a")])])
    registry.push("test/app", "amd", blobs, manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    registry.push("test/app", "arm", arm_blobs, arm_manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    index = json.dumps({"schemaVersion": 2,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(arm_manifest),
         "size": len(arm_manifest), "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
         "size": len(manifest), "platform": {"os": "linux", "architecture": "amd64"}},
    ]}).encode()
    registry.push("test/app", "multi", [], index, "application/vnd.oci.image.index.v1+json")
    seen: list[Progress] = []
    ref = f"{registry.addr}/test/app:multi"
    img = puller.pull("default", ref, OPTS, seen.append)
    assert img.name == ref
    assert img.target.digest == sha(index)
    res = resolve(puller.content, "default", img.target)
    assert res.manifest_desc.digest == sha(manifest)
    chains = chain_ids([sha(l1), sha(l2)])
    sn = puller.snapshotters["overlayfs"]
    assert [i.name for i in sn.list("default")] == chains
    assert (Path(sn.path_of("default", chains[1])) / "new").read_text() == "n"
    assert {p.status for p in seen} >= {"resolved", "done", "unpacking"}
    assert not puller.content.exists("default", sha(arm_blobs[1]))  # other platform: skipped
    assert puller.leases.list("default") == []
    # pulling again reuses everything; a loopback registry needs no plain_http (as Docker)
    again = puller.pull("default", ref, PullOptions(username=USER, password=PASSWORD))
    assert again.target == img.target
    with pytest.raises(FailedPrecondition, match="unauthorized"):
        puller.pull("default", ref, PullOptions(plain_http=True))
    with pytest.raises(NotFound):
        puller.pull("default", f"{registry.addr}/test/app:nosuchtag", OPTS)


def test_pull_wrong_digest_refused_leaves_nothing(registry: Registry, puller: Puller) -> None:
    l1 = layer_tar([("a", "f", "good data " * 50)])
    l2 = layer_tar([("b", "f", "more data " * 50)])
    blobs, manifest = _image([l1, l2])
    registry.push("test/liar", "v1", blobs, manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    f = registry.blob_file(sha(blobs[2]))
    good = f.read_bytes()
    f.write_bytes(good[:-4] + b"EVIL")  # the registry now serves bytes that lie
    try:
        with pytest.raises(FailedPrecondition, match="digest"):
            puller.pull("default", f"{registry.addr}/test/liar:v1", OPTS)
    finally:
        f.write_bytes(good)
    assert puller.images.list("default") == []
    assert puller.content.list("default") == []
    assert puller.snapshotters["overlayfs"].list("default") == []
    assert puller.leases.list("default") == []
    assert puller.content.local.blobs() == []
    assert puller.content.statuses("default") == []


def test_pull_over_grpc_streams_progress(registry: Registry, tmp_path: Path) -> None:
    from pyd_containerd.config import Config
    from pyd_containerd.server import make_server
    from pyd_proto import dial
    from pyd_proto.containerd.services.images.v1 import images_pb2, images_pb2_grpc
    from pyd_proto.pyd.containerd.v1 import transfer_pb2, transfer_pb2_grpc

    blobs, manifest = _image([layer_tar([("hello", "f", "world")])])
    registry.push("test/grpc", "v1", blobs, manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 address=str(tmp_path / "c.sock"))
    daemon = make_server(cfg)
    daemon.start()
    ch = dial.channel(cfg.socket_path)
    try:
        md = (("containerd-namespace", "moby"),)
        ref = f"{registry.addr}/test/grpc:v1"
        msgs = list(transfer_pb2_grpc.TransferStub(ch).Pull(transfer_pb2.PullRequest(
            ref=ref, username=USER, password=PASSWORD, plain_http=True), metadata=md))
        assert msgs[-1].status == "complete" and msgs[-1].image.name == ref
        assert msgs[-1].image.target.digest == sha(manifest)
        names = [i.name for i in images_pb2_grpc.ImagesStub(ch).List(
            images_pb2.ListImagesRequest(), metadata=md).images]
        assert names == [ref]
        import grpc

        with pytest.raises(grpc.RpcError) as e:
            list(transfer_pb2_grpc.TransferStub(ch).Pull(transfer_pb2.PullRequest(
                ref=f"{registry.addr}/test/grpc:missing", username=USER, password=PASSWORD,
                plain_http=True), metadata=md))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        ch.close()
        daemon.stop(0)


def test_pull_resumes_a_partial_download(registry: Registry, puller: Puller,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from pyd_containerd.images import pull as pull_mod

    big = layer_tar([("big", "f", bytes(range(256)) * 4096)])
    blobs, manifest = _image([big])
    registry.push("test/resume", "v1", blobs, manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    layer = blobs[1]
    # an earlier pull died half way: its ingest holds the first half
    w = puller.content.writer("default", f"pull-{sha(layer)}", len(layer), sha(layer))
    w.write(layer[:len(layer) // 2])
    w.close()
    seen: list[dict[str, str]] = []
    real_blob = pull_mod.Registry.blob

    def spy(self, digest, headers=None):  # type: ignore[no-untyped-def]
        seen.append(dict(headers or {}))
        return real_blob(self, digest, headers)

    monkeypatch.setattr(pull_mod.Registry, "blob", spy)
    progress: list[Progress] = []
    puller.pull("default", f"{registry.addr}/test/resume:v1", OPTS, progress.append)
    assert {"Range": f"bytes={len(layer) // 2}-"} in seen
    assert any(p.status == "resuming" for p in progress)
    assert puller.content.read_all("default", sha(layer)) == layer
    assert puller.content.statuses("default") == []


def test_parallel_pulls_of_one_image(registry: Registry, puller: Puller) -> None:
    l1 = layer_tar([("one", "f", "1" * 100_000)])
    l2 = layer_tar([("two", "f", "2" * 100_000)])
    blobs, manifest = _image([l1, l2])
    registry.push("test/par", "v1", blobs, manifest,
                  "application/vnd.oci.image.manifest.v1+json")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            puller.pull("default", f"{registry.addr}/test/par:v1", OPTS)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [i.name for i in puller.images.list("default")] == [f"{registry.addr}/test/par:v1"]
    assert len(puller.snapshotters["overlayfs"].list("default")) == 2
    assert puller.leases.list("default") == []
