"""The overlayfs snapshotter: records, parent chains, mounts (really mounted as root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_containerd.snapshots import Info, Kind, Mount
from pyd_containerd.snapshots.overlay import OverlaySnapshotter
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture
def sn(engine: Engine, tmp_path: Path) -> OverlaySnapshotter:
    return OverlaySnapshotter(engine, str(tmp_path / "io.containerd.snapshotter.v1.overlayfs"))


@contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    target.mkdir(exist_ok=True)
    for m in mounts:
        opts = [o for o in m.options if o != "rbind"]
        cmd = ["mount", "-t", m.type, m.source, str(target)]
        if m.type == "bind":
            cmd = ["mount", "--rbind", m.source, str(target)]
            if "ro" in opts:
                subprocess.run(cmd, check=True)
                subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
                continue
        elif opts:
            cmd[3:3] = ["-o", ",".join(opts)]
        subprocess.run(cmd, check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def _commit_layer(sn: OverlaySnapshotter, name: str, parent: str,
                  files: dict[str, str]) -> None:
    sn.prepare("default", f"tmp-{name}", parent)
    upper = Path(sn.path_of("default", f"tmp-{name}"))
    for rel, text in files.items():
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        (upper / rel).write_text(text)
    sn.commit("default", name, f"tmp-{name}")


def test_snapshot_key_reuse_already_exists(sn: OverlaySnapshotter) -> None:
    sn.prepare("default", "a")
    with pytest.raises(AlreadyExists):
        sn.prepare("default", "a")
    with pytest.raises(AlreadyExists):
        sn.view("default", "a")
    sn.prepare("other", "a")  # keys are per namespace


def test_snapshot_prepare_commit_chain_and_mounts(sn: OverlaySnapshotter) -> None:
    [m] = sn.prepare("default", "base-active")
    assert m.type == "bind" and m.options == ["rw", "rbind"]
    sn.commit("default", "base", "base-active", {"l": "1"})
    info = sn.stat("default", "base")
    assert info.kind == Kind.COMMITTED and info.labels == {"l": "1"}
    with pytest.raises(NotFound):
        sn.stat("default", "base-active")
    _commit_layer(sn, "l2", "base", {"x": "2"})
    [m] = sn.prepare("default", "rw", "l2")
    assert m.type == "overlay"
    opts = dict(o.split("=", 1) for o in m.options if "=" in o)
    lowers = opts["lowerdir"].split(":")
    assert lowers == [sn.path_of("default", "l2"), sn.path_of("default", "base")]
    assert opts["upperdir"] == sn.path_of("default", "rw")
    assert os.path.isdir(opts["workdir"])
    [v] = sn.view("default", "v1", "base")
    assert v.type == "bind" and "ro" in v.options
    [v2] = sn.view("default", "v2", "l2")
    assert v2.type == "overlay" and not any(o.startswith("upperdir") for o in v2.options)
    assert sn.mounts("default", "rw") == [m]
    assert {i.name for i in sn.list("default")} == {"base", "l2", "rw", "v1", "v2"}
    assert [i.name for i in sn.list("default", ["kind==committed"])] == ["base", "l2"]
    assert [i.name for i in sn.list("default", ["parent==l2"])] == ["rw", "v2"]


def test_snapshot_rules(sn: OverlaySnapshotter) -> None:
    sn.prepare("default", "act")
    with pytest.raises(InvalidArgument):  # an active parent
        sn.prepare("default", "child", "act")
    with pytest.raises(NotFound):
        sn.prepare("default", "child", "nope")
    sn.view("default", "view")
    with pytest.raises(FailedPrecondition):
        sn.commit("default", "x", "view")
    sn.commit("default", "c", "act")
    sn.prepare("default", "child", "c")
    with pytest.raises(FailedPrecondition, match="child"):
        sn.remove("default", "c")
    sn.remove("default", "child")
    sn.remove("default", "c")
    with pytest.raises(NotFound):
        sn.remove("default", "c")
    assert sn.update("default", Info("view", labels={"a": "b"})).labels == {"a": "b"}
    with pytest.raises(InvalidArgument):
        sn.update("default", Info("view"), ["parent"])


def test_snapshot_usage_and_cleanup(sn: OverlaySnapshotter) -> None:
    sn.prepare("default", "a")
    Path(sn.path_of("default", "a"), "f").write_bytes(b"x" * 100_000)
    u = sn.usage("default", "a")
    assert u.size >= 100_000 and u.inodes == 2
    stray = Path(sn.root, "snapshots", "999")
    (stray / "fs").mkdir(parents=True)
    assert sn.cleanup() == ["999"]
    assert not stray.exists() and Path(sn.path_of("default", "a")).exists()


@needs_root
def test_snapshot_overlay_mount_shows_merged_view(sn: OverlaySnapshotter,
                                                  tmp_path: Path) -> None:
    _commit_layer(sn, "l1", "", {"a": "from l1", "d/b": "b1"})
    _commit_layer(sn, "l2", "l1", {"a": "from l2", "c": "c2"})
    mounts = sn.prepare("default", "ctr", "l2")
    with mounted(mounts, tmp_path / "rootfs") as root:
        assert (root / "a").read_text() == "from l2"
        assert (root / "d" / "b").read_text() == "b1"
        assert (root / "c").read_text() == "c2"
        (root / "new").write_text("written")
        (root / "d" / "b").unlink()
    upper = Path(sn.path_of("default", "ctr"))
    assert (upper / "new").read_text() == "written"
    assert (Path(sn.path_of("default", "l1")) / "d" / "b").exists()  # lowers untouched
    views = sn.view("default", "ro", "l2")
    with mounted(views, tmp_path / "view") as root:
        assert (root / "a").read_text() == "from l2"
        with pytest.raises(OSError):
            (root / "x").write_text("no")
