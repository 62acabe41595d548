"""The export format of a checkpoint (daemon/checkpoint.py): a tar streamed member by
member that tarfile reads back, and an import that takes only regular
`checkpoint/<name>` files, so an archive cannot write outside its directory."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pyd_dockerd.daemon.checkpoint import (
    EXPORT_MANIFEST,
    _export_stream,
    _unpack,
    apply_rootfs_diff,
)
from pyd_dockerd.ioutils import ChunkReader
from pyd_proto.errdefs import InvalidArgument


def _image(d: Path) -> dict[str, bytes]:
    files = {"inventory.img": b"inv", "pages-1.img": bytes(range(256)) * 4097,
             "rootfs-diff.tar": b"", "descriptors.json": b'["/dev/null"]'}
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    return files


def test_export_streams_a_tar_that_imports_back(tmp_path: Path) -> None:
    files = _image(tmp_path / "cp")
    manifest = {"Name": "cp", "ImageDigest": "sha256:" + "a" * 64}
    chunks = list(_export_stream(str(tmp_path / "cp"), sorted(files),
                                 json.dumps(manifest).encode(), chunk=1000))
    blob = b"".join(chunks)
    assert len(blob) % tarfile.BLOCKSIZE == 0
    assert max(len(c) for c in chunks) <= 1000 + tarfile.BLOCKSIZE * 3  # never buffered
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert tar.getnames() == [EXPORT_MANIFEST] + [f"checkpoint/{n}" for n in sorted(files)]
    out = tmp_path / "imported"
    out.mkdir()
    # Small, uneven chunks, as gRPC delivers them.
    pieces = [blob[i:i + 777] for i in range(0, len(blob), 777)]
    assert _unpack(ChunkReader(pieces), str(out)) == manifest
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ti, data in members:
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("name, kind", [
    ("checkpoint/../../escape", tarfile.REGTYPE),
    ("/etc/evil", tarfile.REGTYPE),
    ("checkpoint/sub/inventory.img", tarfile.REGTYPE),
    ("checkpoint/link", tarfile.SYMTYPE),
    ("checkpoint/config.json", tarfile.REGTYPE),
])
def test_import_refuses_members_outside_the_format(tmp_path: Path, name: str,
                                                   kind: bytes) -> None:
    manifest = tarfile.TarInfo(EXPORT_MANIFEST)
    evil = tarfile.TarInfo(name)
    evil.type = kind
    evil.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
    blob = _tar([(manifest, b"{}"), (evil, b"x")])
    with pytest.raises(InvalidArgument, match="unexpected member"):
        _unpack(ChunkReader([blob]), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_import_needs_a_manifest_and_a_criu_image(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    only_file = tarfile.TarInfo("checkpoint/inventory.img")
    with pytest.raises(InvalidArgument, match=r"no pyd-checkpoint\.json"):
        _unpack(ChunkReader([_tar([(only_file, b"inv")])]), str(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    no_image = _tar([(tarfile.TarInfo(EXPORT_MANIFEST), b"{}")])
    with pytest.raises(InvalidArgument, match="no CRIU image"):
        _unpack(ChunkReader([no_image]), str(tmp_path / "b"))
    with pytest.raises(InvalidArgument, match="not a pyd checkpoint export"):
        _unpack(ChunkReader([b"this is not a tar" * 100]), str(tmp_path / "b"))


def _entry(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644,
           link: str = "", dev: tuple[int, int] = (0, 0)) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname = kind, mode, link
    ti.devmajor, ti.devminor = dev
    ti.uid = ti.gid = 1234
    return ti, b"x" if kind == tarfile.REGTYPE else b""


def test_rootfs_diff_keeps_modes_owners_and_whiteouts(tmp_path: Path) -> None:
    import os
    import stat

    diff = tmp_path / "diff.tar"
    diff.write_bytes(_tar([_entry("bin", tarfile.DIRTYPE, mode=0o755),
                           _entry("bin/su", mode=0o4755),
                           _entry("bin/sh", tarfile.SYMTYPE, link="/bin/busybox"),
                           _entry("bin/su2", tarfile.LNKTYPE, link="bin/su", mode=0o4755),
                           _entry("gone", tarfile.CHRTYPE, mode=0o000)]))
    upper = tmp_path / "upper"
    upper.mkdir()
    apply_rootfs_diff(str(diff), str(upper))
    su = os.lstat(upper / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755 and su.st_uid == 1234
    assert os.readlink(upper / "bin/sh") == "/bin/busybox"
    assert os.lstat(upper / "bin/su2").st_ino == su.st_ino
    gone = os.lstat(upper / "gone")  # overlay's whiteout: a 0:0 character device
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0


@pytest.mark.parametrize("members", [
    [_entry("../escape")],
    [_entry("link", tarfile.LNKTYPE, link="../../../etc/hostname")],
    [_entry("etc", tarfile.SYMTYPE, link="/etc"), _entry("etc/pyd-test-escape")],
])
def test_rootfs_diff_cannot_write_outside_the_layer(
        tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    diff = tmp_path / "diff.tar"
    diff.write_bytes(_tar(members))
    upper = tmp_path / "a" / "b" / "upper"
    upper.mkdir(parents=True)
    with pytest.raises(tarfile.FilterError):
        apply_rootfs_diff(str(diff), str(upper))
    assert not (tmp_path / "a" / "b" / "escape").exists()
    assert not Path("/etc/pyd-test-escape").exists()


def test_rootfs_diff_absolute_names_land_inside_the_layer(tmp_path: Path) -> None:
    diff = tmp_path / "diff.tar"
    diff.write_bytes(_tar([_entry("/pyd-test-abs")]))
    upper = tmp_path / "upper"
    upper.mkdir()
    apply_rootfs_diff(str(diff), str(upper))
    assert (upper / "pyd-test-abs").read_bytes() == b"x"
    assert not Path("/pyd-test-abs").exists()
