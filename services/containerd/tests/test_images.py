"""Image import (docker save, OCI layout, rootfs), unpacking with whiteouts, chain IDs,
image records and garbage collection."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest
from containerd_testimages import docker_save, layer_tar, oci_layout, sha, tar_of
from google.protobuf import any_pb2
from sqlalchemy import Engine

from pyd_containerd.content.local import LocalStore
from pyd_containerd.gc import GarbageCollector
from pyd_containerd.images import Descriptor
from pyd_containerd.images.importer import Importer, ImportOptions
from pyd_containerd.images.reference import normalize
from pyd_containerd.images.store import Image, ImageStore
from pyd_containerd.images.unpack import chain_ids, resolve
from pyd_containerd.leases.store import Lease, LeaseStore, Resource
from pyd_containerd.metadata.containers import Container, ContainerStore, Runtime
from pyd_containerd.metadata.content import ContentStore
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import AlreadyExists, InvalidArgument, NotFound

LAYER1 = layer_tar([("a", "f", "A"), ("b", "f", "B"), ("dir", "d", None),
                    ("dir/x", "f", "X"), ("opq", "d", None), ("opq/y", "f", "Y"),
                    ("bin", "d", None), ("bin/sh", "f", "#!sh"), ("bin/link", "l", "sh"),
                    ("bin/hard", "h", "bin/sh")])
LAYER2 = layer_tar([(".wh.a", "f", ""), ("opq", "d", None), ("opq/.wh..wh..opq", "f", ""),
                    ("opq/z", "f", "Z"), ("c", "f", "C"), ("dir/.wh.x", "f", "")])


class World:
    def __init__(self, engine: Engine, root: Path) -> None:
        self.content = ContentStore(engine, LocalStore(str(root / "content")))
        self.sn = OverlaySnapshotter(engine, str(root / "overlayfs"))
        self.images = ImageStore(engine)
        self.leases = LeaseStore(engine)
        self.containers = ContainerStore(engine)
        self.gc = GarbageCollector(engine, self.content, {"overlayfs": self.sn})
        self.importer = Importer(self.images, self.content, {"overlayfs": self.sn},
                                 self.leases, self.gc)

    def load(self, data: bytes, **kw: object) -> list[Image]:
        return self.importer.import_stream("default", io.BytesIO(data),
                                           ImportOptions(**kw))  # type: ignore[arg-type]

    def assert_empty(self) -> None:
        assert self.images.list("default") == []
        assert self.content.list("default") == []
        assert self.sn.list("default") == []
        assert self.leases.list("default") == []
        assert self.content.local.blobs() == []
        assert os.listdir(os.path.join(self.sn.root, "snapshots")) == []


@pytest.fixture
def w(engine: Engine, tmp_path: Path) -> World:
    return World(engine, tmp_path)


def test_chain_ids_as_upstream() -> None:
    a, b, c = (sha(x) for x in (b"a", b"b", b"c"))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]


def test_reference_normalize() -> None:
    assert normalize("busybox") == "docker.io/library/busybox:latest"
    assert normalize("me/app:1") == "docker.io/me/app:1"
    assert normalize("localhost:5000/x") == "localhost:5000/x:latest"
    assert normalize("127.0.0.1:5000/a/b:t") == "127.0.0.1:5000/a/b:t"
    with pytest.raises(InvalidArgument):
        normalize("UPPER")


@pytest.mark.parametrize("gz", [False, True])
def test_import_docker_save_applies_whiteouts(w: World, tmp_path: Path, gz: bool) -> None:
    [img] = w.load(docker_save([LAYER1, LAYER2], ["test:latest"], gz_layers=gz, gz_outer=gz))
    assert img.name == "docker.io/library/test:latest"
    res = resolve(w.content, "default", img.target)
    chains = chain_ids([sha(LAYER1), sha(LAYER2)])
    assert res.chain_id == chains[-1]
    assert [i.name for i in w.sn.list("default")] == chains
    # layer 2's upper holds overlay whiteouts
    upper2 = Path(w.sn.path_of("default", chains[1]))
    st = os.lstat(upper2 / "a")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper2 / "opq", "trusted.overlay.opaque") == b"y"
    upper1 = Path(w.sn.path_of("default", chains[0]))
    assert os.readlink(upper1 / "bin" / "link") == "sh"
    assert os.stat(upper1 / "bin" / "hard").st_ino == os.stat(upper1 / "bin" / "sh").st_ino
    if os.geteuid() != 0:
        return
    mounts = w.sn.prepare("default", "ctr", chains[-1])
    root = tmp_path / "rootfs"
    root.mkdir()
    opts = ",".join(mounts[0].options)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root)], check=True)
    try:
        assert sorted(os.listdir(root)) == ["b", "bin", "c", "dir", "opq"]
        assert os.listdir(root / "opq") == ["z"]
        assert os.listdir(root / "dir") == []
        assert (root / "b").read_text() == "B"
    finally:
        subprocess.run(["umount", str(root)], check=True)


def test_import_twice_reuses_snapshots_and_repoints_name(w: World) -> None:
    w.load(docker_save([LAYER1], ["t:1"]))
    n = len(w.sn.list("default"))
    [img] = w.load(docker_save([LAYER1, LAYER2], ["t:1", ]))
    assert len(w.sn.list("default")) == n + 1
    assert w.images.get("default", "docker.io/library/t:1").target == img.target


@pytest.mark.parametrize("archive", [
    b"this is not a tar at all" * 40,
    b"",
    docker_save([LAYER1, LAYER2], ["x:1"])[:3000],  # truncated
    tar_of({"something.txt": b"no manifest"}),
    docker_save([LAYER1, LAYER2], ["x:1"], config=b'{"rootfs":{"diff_ids":["sha256:'
                + b"0" * 64 + b'","sha256:' + b"1" * 64 + b'"]}}'),  # diff IDs lie
    docker_save([LAYER1, gzip.compress(LAYER2)[:-30]], ["x:1"]),  # corrupt gzip layer
])
def test_import_corrupt_tarball_leaves_nothing(w: World, archive: bytes) -> None:
    with pytest.raises(InvalidArgument):
        w.load(archive)
    w.assert_empty()


def test_import_oci_layout(w: World) -> None:
    data, mdigest = oci_layout([LAYER1, LAYER2], ref_name="v1")
    [img] = w.load(data, name="example.com/app")
    assert img.name == "example.com/app:v1" and img.target.digest == mdigest
    assert len(w.sn.list("default")) == 2
    data, _ = oci_layout([LAYER1], image_name="docker.io/library/named:2")
    assert [i.name for i in w.load(data)] == ["docker.io/library/named:2"]


def test_import_oci_lying_blob_refused(w: World) -> None:
    data, _ = oci_layout([LAYER1, LAYER2], ref_name="v1", lie=True)
    with pytest.raises(InvalidArgument, match="digest"):
        w.load(data, name="example.com/app")
    w.assert_empty()


def test_import_rootfs_tarball(w: World) -> None:
    [img] = w.load(gzip.compress(LAYER1), kind="rootfs", name="myroot:v1",
                   config={"Cmd": ["/bin/sh"]})
    assert img.name == "docker.io/library/myroot:v1"
    res = resolve(w.content, "default", img.target)
    assert res.diff_ids == [sha(LAYER1)]
    assert res.config["config"] == {"Cmd": ["/bin/sh"]}
    assert (Path(w.sn.path_of("default", res.chain_id)) / "a").read_text() == "A"
    with pytest.raises(InvalidArgument):
        w.load(b"garbage" * 100, kind="rootfs", name="bad")


def test_image_store_rules(w: World) -> None:
    d = Descriptor("application/vnd.oci.image.manifest.v1+json", sha(b"m"), 1)
    w.images.create("default", Image("a", d, {"x": "1"}))
    with pytest.raises(AlreadyExists):
        w.images.create("default", Image("a", d))
    with pytest.raises(InvalidArgument):
        w.images.create("default", Image("b", Descriptor("", sha(b"m"), 1)))
    got = w.images.update("default", Image("a", d, {"y": "2"}), ["labels.y"])
    assert got.labels == {"x": "1", "y": "2"}
    assert [i.name for i in w.images.list("default", ["labels.y==2"])] == ["a"]
    assert [i.name for i in w.images.list("default", [f"target.digest=={d.digest}"])] == ["a"]
    w.images.delete("default", "a")
    with pytest.raises(NotFound):
        w.images.get("default", "a")


def test_gc_removes_unreferenced_and_keeps_referenced(w: World) -> None:
    [keep] = w.load(docker_save([LAYER1], ["keep:1"]))
    [drop] = w.load(docker_save([LAYER1, LAYER2], ["drop:1"]))
    chains = chain_ids([sha(LAYER1), sha(LAYER2)])
    # a container's snapshot is a root; so is a lease's resource
    w.sn.prepare("default", "ctr-rw", chains[0])
    w.containers.create("default", Container("ctr", runtime=Runtime("r"), spec=_spec(),
                                             snapshotter="overlayfs", snapshot_key="ctr-rw"))
    leased = w.content.write_blob("default", "leased", b"leased blob")
    w.leases.create("default", Lease("l1"))
    w.leases.add_resource("default", "l1", Resource(leased, "content"))
    loose = w.content.write_blob("default", "loose", b"nobody wants me")
    stats = w.gc.collect()
    assert loose in stats.content and leased not in stats.content
    assert stats.snapshots == []  # everything is still referenced by images
    w.images.delete("default", drop.name)
    stats = w.gc.collect()
    assert stats.snapshots == [chains[1]]
    assert w.content.exists("default", keep.target.digest)
    assert not w.content.exists("default", drop.target.digest)
    assert not w.content.local.exists(drop.target.digest)
    # the keep image's layer stays; its snapshot is held by the container too
    w.images.delete("default", keep.name)
    w.gc.collect()
    assert [i.name for i in w.sn.list("default")] == [chains[0], "ctr-rw"]
    w.containers.delete("default", "ctr")
    w.leases.delete("default", "l1")
    w.gc.collect()
    w.assert_empty()


def _spec() -> any_pb2.Any:

    return any_pb2.Any(type_url="spec", value=b"{}")


def test_parallel_imports_of_shared_layers_while_collecting(w: World) -> None:
    import threading

    archives = [docker_save([LAYER1, LAYER2], [f"p{i}:1"]) for i in range(6)]
    archives += [docker_save([LAYER1], [f"q{i}:1"], gz_layers=True) for i in range(4)]
    errors: list[BaseException] = []

    def run(data: bytes) -> None:
        try:
            w.load(data)
        except BaseException as e:
            errors.append(e)

    stop = threading.Event()

    def collect() -> None:  # garbage collection racing the imports must not hurt them
        while not stop.is_set():
            try:
                w.gc.collect()
            except BaseException as e:
                errors.append(e)

    collector = threading.Thread(target=collect)
    collector.start()
    threads = [threading.Thread(target=run, args=(a,)) for a in archives]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    collector.join()
    assert errors == []
    w.gc.collect()
    assert len(w.images.list("default")) == 10
    for img in w.images.list("default"):
        assert w.sn.stat("default", resolve(w.content, "default", img.target).chain_id)
    assert [i.name for i in w.sn.list("default")] == chain_ids([sha(LAYER1), sha(LAYER2)])
    assert w.leases.list("default") == []
    assert w.content.statuses("default") == []
    assert os.listdir(os.path.join(w.sn.root, "snapshots")) == ["1", "2"] or \
        len(os.listdir(os.path.join(w.sn.root, "snapshots"))) == 2


def test_gc_drops_stale_ingests_and_expired_leases(w: World) -> None:
    import time

    wr = w.content.writer("default", "abandoned")
    wr.write(b"half")
    wr.close()
    fresh = w.content.writer("default", "fresh")
    fresh.close()
    data = os.path.join(w.content.local._ingest_dir("default/abandoned"), "data")
    old = time.time() - 2 * 86400
    os.utime(data, (old, old))
    held = w.content.write_blob("default", "held", b"held by an expired lease")
    w.leases.create("default", Lease("old", {"containerd.io/gc.expire": "2000-01-01T00:00:00Z"}))
    w.leases.add_resource("default", "old", Resource(held, "content"))
    stats = w.gc.collect()
    assert stats.ingests == ["default/abandoned"] and stats.leases == ["old"]
    assert held in stats.content
    assert [s.ref for s in w.content.statuses("default")] == ["fresh"]


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
                    reason="needs root and busybox-static")
def test_import_then_run_sees_the_right_files(w: World, tmp_path: Path) -> None:
    """A two-layer docker save with busybox, the second layer deleting a file of the first:
    the merged rootfs runs busybox, which sees the survivors only."""
    import tarfile

    # build layer 1 properly: busybox plus data files
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in ("bin", "data"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(ti)
        tf.add("/bin/busybox", arcname="bin/busybox")
        ti = tarfile.TarInfo("bin/sh")
        ti.type, ti.linkname = tarfile.SYMTYPE, "busybox"
        tf.addfile(ti)
        for name in ("keep", "remove"):
            ti = tarfile.TarInfo(f"data/{name}")
            ti.size = len(name)
            tf.addfile(ti, io.BytesIO(name.encode()))
    l1 = buf.getvalue()
    l2 = layer_tar([("data", "d", None), ("data/.wh.remove", "f", ""), ("data/added", "f", "new")])
    [img] = w.load(docker_save([l1, l2], ["bb:1"], gz_layers=True))
    res = resolve(w.content, "default", img.target)
    [m] = w.sn.prepare("default", "run1", res.chain_id)
    root = tmp_path / "rootfs"
    root.mkdir()
    subprocess.run(["mount", "-t", m.type, m.source, "-o", ",".join(m.options), str(root)],
                   check=True)
    try:
        out = subprocess.run(["chroot", str(root), "/bin/sh", "-c",
                              "busybox ls /data; busybox cat /data/added"],
                             capture_output=True, text=True, check=True).stdout.split()
    finally:
        subprocess.run(["umount", str(root)], check=True)
    assert out == ["added", "keep", "new"]


def test_import_docker25_save_prefers_oci_layout(w: World) -> None:
    data, mdigest = oci_layout([LAYER1], image_name="docker.io/library/dual:1",
                               ref_name="1", docker_manifest=True)
    [img] = w.load(data)
    assert img.name == "docker.io/library/dual:1" and img.target.digest == mdigest
    assert img.target.media_type == "application/vnd.oci.image.manifest.v1+json"


def test_export_then_import_round_trip(w: World) -> None:
    from pyd_containerd.images.exporter import Exporter
    from pyd_containerd.images.reference import familiar

    a = w.load(docker_save([LAYER1, LAYER2], ["app:1", "app:latest"]))[0]
    [b] = w.load(docker_save([LAYER1], ["base:1"], gz_layers=True))
    buf = io.BytesIO()
    names = ["docker.io/library/app:1", "docker.io/library/app:latest", b.name]
    Exporter(w.images, w.content).export("default", names, buf)
    import json
    import tarfile

    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert [m["RepoTags"] for m in manifest] == [["app:1", "app:latest"], ["base:1"]]
    # the same archive loads into another namespace as the same images
    got = w.importer.import_stream("other", io.BytesIO(buf.getvalue()))
    assert sorted(i.name for i in got) == sorted(names)
    assert {i.target.digest for i in got} == {a.target.digest, b.target.digest}
    assert [i.name for i in w.sn.list("other")] == chain_ids([sha(LAYER1), sha(LAYER2)])
    assert familiar("docker.io/me/x:2") == "me/x:2"
    assert familiar("localhost:5000/x:2") == "localhost:5000/x:2"
    with pytest.raises(NotFound):
        Exporter(w.images, w.content).export("default", ["nope"], io.BytesIO())


def test_gc_grace_keeps_fresh_active_snapshots(engine: Engine, tmp_path: Path) -> None:
    from datetime import timedelta

    w = World(engine, tmp_path)
    gc = GarbageCollector(engine, w.content, {"overlayfs": w.sn},
                          active_grace=timedelta(minutes=1))
    w.sn.prepare("default", "rootfs-of-a-container-being-created")
    w.sn.prepare("default", "base-active")
    w.sn.commit("default", "unreferenced-committed", "base-active")
    stats = gc.collect()
    assert stats.snapshots == ["unreferenced-committed"]
    assert gc.collect(only={("snapshots/overlayfs", "rootfs-of-a-container-being-created")}
                      ).snapshots == ["rootfs-of-a-container-being-created"]
