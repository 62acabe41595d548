"""The embedded default image: `busybox:latest` built from Debian's busybox-static.

No registry is reachable from this machine's hosts, so pyd makes its default image
itself, as a `docker save` tarball (one layer: /bin/busybox with a symlink per applet,
/etc/passwd, /etc/group, /tmp), byte-for-byte reproducible for a given busybox binary.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass

BUSYBOX = "/bin/busybox"
REPO_TAG = "busybox:latest"
_EPOCH = 0  # fixed mtimes: the same binary always yields the same digests

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
          "nobody:x:65534:65534:nobody:/home:/bin/false\n")
GROUP = "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class BuiltImage:
    path: str
    config_digest: str   # sha256:... of the config JSON (the image ID)
    diff_id: str         # sha256:... of the uncompressed layer tar


def applets(binary: str = BUSYBOX) -> list[str]:
    """Applet names with their directories, e.g. `bin/sh`, `usr/bin/env`."""
    out = subprocess.run([binary, "--list-full"], capture_output=True, text=True, check=True)
    return sorted({line.strip() for line in out.stdout.splitlines() if line.strip()})


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.mtime, ti.linkname = kind, mode, size, _EPOCH, link
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def layer_tar(binary: str = BUSYBOX) -> bytes:
    """The image's single layer as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = {"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "usr/bin",
                "usr/sbin", "sbin", "var"}
        names = applets(binary)
        dirs |= {os.path.dirname(a) for a in names if os.path.dirname(a)}
        for d in sorted(dirs):
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        with open(binary, "rb") as f:
            data = f.read()
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), io.BytesIO(data))
        for name in names:
            if name != "bin/busybox":
                tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            raw = text.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(raw)), io.BytesIO(raw))
    return buf.getvalue()


def build(out_path: str, binary: str = BUSYBOX) -> BuiltImage:
    """Write `busybox:latest` as a `docker save` tarball at `out_path`."""
    layer = layer_tar(binary)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": f"pyd: busybox-static {binary}"}],
    }
    config_raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_raw).hexdigest()
    layer_dir = diff_id.split(":", 1)[1]
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [REPO_TAG],
                 "Layers": [f"{layer_dir}/layer.tar"]}]
    repositories = {"busybox": {"latest": layer_dir}}
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(layer_dir, tarfile.DIRTYPE, 0o755))
        for name, raw in ((f"{layer_dir}/VERSION", b"1.0"),
                          (f"{layer_dir}/layer.tar", layer),
                          (f"{config_hex}.json", config_raw),
                          ("manifest.json", json.dumps(manifest).encode()),
                          ("repositories", json.dumps(repositories).encode())):
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(raw)), io.BytesIO(raw))
    os.replace(tmp, out_path)
    return BuiltImage(out_path, f"sha256:{config_hex}", diff_id)
