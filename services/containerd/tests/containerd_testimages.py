"""Builders for test archives: layer tars, docker save tarballs, OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

Entry = tuple[str, str, bytes | str | None]  # (name, kind "f"/"d"/"l"/"h", data/target)


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            if kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
                tf.addfile(ti)
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, str(data)
                tf.addfile(ti)
            else:
                raw = data if isinstance(data, bytes) else str(data or "").encode()
                ti.size, ti.mode = len(raw), 0o644
                tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(layers: list[bytes]) -> bytes:
    return json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in layers]},
    }).encode()


def tar_of(files: dict[str, bytes], gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    out = buf.getvalue()
    return gzip.compress(out) if gz else out


def docker_save(layers: list[bytes], tags: list[str], gz_layers: bool = False,
                gz_outer: bool = False, config: bytes | None = None) -> bytes:
    config = config or config_for(layers)
    cfg_name = sha(config).split(":")[1] + ".json"
    files: dict[str, bytes] = {cfg_name: config}
    names = []
    for i, layer in enumerate(layers):
        name = f"layer{i}/layer.tar"
        files[name] = gzip.compress(layer) if gz_layers else layer
        names.append(name)
    files["manifest.json"] = json.dumps(
        [{"Config": cfg_name, "RepoTags": tags, "Layers": names}]).encode()
    return tar_of(files, gz_outer)


def oci_layout(layers: list[bytes], ref_name: str = "", image_name: str = "",
               lie: bool = False, docker_manifest: bool = False) -> tuple[bytes, str]:
    """An OCI layout tar with one manifest; (tar, manifest digest)."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> dict[str, Any]:
        blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    config = config_for(layers)
    gz = [gzip.compress(x) for x in layers]
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **add(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **add(g)}
                   for g in gz]}).encode()
    mdesc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **add(manifest),
             "platform": {"os": "linux", "architecture": "amd64"}}
    ann = {}
    if ref_name:
        ann["org.opencontainers.image.ref.name"] = ref_name
    if image_name:
        ann["io.containerd.image.name"] = image_name
    if ann:
        mdesc["annotations"] = ann
    index = {"schemaVersion": 2, "manifests": [mdesc]}
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
             "index.json": json.dumps(index).encode()}
    if docker_manifest:  # Docker 25+ `docker save`: both formats in one archive
        files["manifest.json"] = json.dumps([{
            "Config": f"blobs/sha256/{sha(config).split(':')[1]}", "RepoTags": ["dual:1"],
            "Layers": [f"blobs/sha256/{sha(g).split(':')[1]}" for g in gz]}]).encode()
    for d, data in blobs.items():
        if lie and data == gz[-1]:
            data = data + b"tampered"
        files[f"blobs/sha256/{d.split(':')[1]}"] = data
    return tar_of(files), sha(manifest)
