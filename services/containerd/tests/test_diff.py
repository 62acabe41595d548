"""The walking differ and introspection, without a socket (mounts are real: root)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_containerd import images as mt
from pyd_containerd.content.local import LocalStore
from pyd_containerd.diff.walking import LABEL_UNCOMPRESSED, Differ, Layer, changes
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.services.introspection.service import Introspection, Plugin
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import NotFound, Unimplemented

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
NS = "default"


def layer(entries: list[tuple[str, str, bytes | None]]) -> bytes:
    """A tar of (name, kind f|d, data) entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(data or b""), 0o644
                tf.addfile(info, io.BytesIO(data or b""))
    return buf.getvalue()


@pytest.fixture
def parts(engine: Engine, tmp_path: Path) -> tuple[Differ, ContentStore, OverlaySnapshotter]:
    content = ContentStore(engine, LocalStore(str(tmp_path / "content")))
    sn = OverlaySnapshotter(engine, str(tmp_path / "overlayfs"))
    return Differ(content, str(tmp_path)), content, sn


def test_apply_then_diff_round_trips_a_layer(parts: tuple[Differ, ContentStore,
                                                            OverlaySnapshotter]) -> None:
    differ, content, sn = parts
    base = layer([("etc", "d", None), ("etc/a", "f", b"A"), ("etc/b", "f", b"B")])
    blob = gzip.compress(base)
    digest = content.write_blob(NS, "base", blob)
    # a first layer goes onto a bind mount, as ctr's unpack does it
    applied = differ.apply(NS, Layer(mt.OCI_LAYER_GZIP, digest, len(blob)),
                           sn.prepare(NS, "x", ""))
    assert applied.media_type == mt.OCI_LAYER and applied.size == len(base)
    assert applied.digest == "sha256:" + hashlib.sha256(base).hexdigest()
    sn.commit(NS, "base", "x")
    # the next on top: an overlay upper directory, with a whiteout
    top = layer([("etc", "d", None), ("etc/.wh.a", "f", b""), ("etc/c", "f", b"C")])
    differ.apply(NS, Layer(mt.OCI_LAYER, content.write_blob(NS, "top", top), len(top)),
                 sn.prepare(NS, "y", "base"))
    left, right = sn.view(NS, "left", "base"), sn.mounts(NS, "y")
    out = differ.compare(NS, left, right)
    assert out.media_type == mt.OCI_LAYER_GZIP
    info = content.info(NS, out.digest)
    with tarfile.open(fileobj=io.BytesIO(content.read_all(NS, out.digest))) as tf:
        names = tf.getnames()
        data = tf.extractfile("etc/c")
        assert data is not None and data.read() == b"C"
    assert names == ["etc", "etc/.wh.a", "etc/c"]
    raw = gzip.decompress(content.read_all(NS, out.digest))
    assert info.labels[LABEL_UNCOMPRESSED] == "sha256:" + hashlib.sha256(raw).hexdigest()
    for key in ("left", "y", "base"):
        sn.remove(NS, key)
    assert os.listdir(os.path.join(differ.root, "tmpmounts")) == []  # temp mounts gone


def test_changes_compares_like_continuity(tmp_path: Path) -> None:
    lower, upper = tmp_path / "l", tmp_path / "u"
    for d in (lower, upper):
        (d / "dir").mkdir(parents=True)
        (d / "same").write_text("x")
        (d / "dir" / "f").write_text("1")
        os.utime(d / "same", ns=(10**18, 10**18))
    (upper / "dir" / "f").write_text("22")
    (upper / "new").mkdir()
    (upper / "new" / "g").write_text("g")
    (lower / "gone").write_text("bye")
    assert list(changes(str(lower), str(upper))) == [
        ("modify", "dir/f"), ("delete", "gone"), ("add", "new"), ("add", "new/g")]


def test_unsupported_media_types_are_unimplemented(
        parts: tuple[Differ, ContentStore, OverlaySnapshotter]) -> None:
    differ, _content, sn = parts
    with pytest.raises(Unimplemented):
        differ.apply(NS, Layer("application/x-nope", "sha256:" + "0" * 64, 0),
                     sn.prepare(NS, "z", ""))
    with pytest.raises(Unimplemented):
        differ.compare(NS, [], sn.mounts(NS, "z"), media_type=mt.OCI_LAYER_ZSTD)


def test_introspection_uuid_is_kept_and_plugins_filter(tmp_path: Path) -> None:
    plugins = [Plugin("io.containerd.grpc.v1", "tasks"), Plugin("io.containerd.differ.v1",
                                                                 "walking")]
    local = Introspection(str(tmp_path), lambda: plugins)
    first = local.uuid()
    assert Introspection(str(tmp_path), lambda: plugins).uuid() == first
    assert [p.id for p in local.plugins(["type==io.containerd.differ.v1"])] == ["walking"]
    assert [p.id for p in local.plugins(['id~="^ta"'])] == ["tasks"]
    with pytest.raises(NotFound):
        local.plugin("io.containerd.grpc.v1", "nope")
