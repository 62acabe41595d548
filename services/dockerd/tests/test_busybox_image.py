"""The embedded busybox image is a valid, reproducible `docker save` tarball."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from pyd_dockerd.images import busybox


def test_busybox_tarball_is_docker_save_shaped_and_digests_match(tmp_path: Path) -> None:
    built = busybox.build(str(tmp_path / "busybox.tar"))
    with tarfile.open(built.path) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["busybox:latest"]
        config_raw = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
        layer = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert "sha256:" + hashlib.sha256(config_raw).hexdigest() == built.config_digest
    assert "sha256:" + hashlib.sha256(layer).hexdigest() == built.diff_id
    assert json.loads(config_raw)["rootfs"]["diff_ids"] == [built.diff_id]


def test_busybox_layer_has_shell_applets_and_users(tmp_path: Path) -> None:
    built = busybox.build(str(tmp_path / "busybox.tar"))
    with tarfile.open(built.path) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = outer.extractfile(manifest[0]["Layers"][0])
        with tarfile.open(fileobj=layer) as tar:
            members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile()
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert "etc/passwd" in members and "tmp" in members


def test_busybox_build_is_reproducible(tmp_path: Path) -> None:
    a = busybox.build(str(tmp_path / "a.tar"))
    b = busybox.build(str(tmp_path / "b.tar"))
    assert a.config_digest == b.config_digest
    assert Path(a.path).read_bytes() == Path(b.path).read_bytes()
