"""Named and anonymous volumes, in-use refusal, prune, and `-v`/`--mount`/`--tmpfs`
parsing with Docker's messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_dockerd.volumes import parse
from pyd_dockerd.volumes.local import VolumeStore
from pyd_dockerd.volumes.service import copy_up, oci_mounts, resolve_mounts
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument, NotFound


@pytest.fixture
def volumes(engine: Engine, tmp_path: Path) -> VolumeStore:
    return VolumeStore(engine, str(tmp_path / "volumes"))


def test_named_volume_lives_under_root_and_create_is_idempotent(volumes: VolumeStore,
                                                                tmp_path: Path) -> None:
    v = volumes.create("data", labels={"team": "a"})
    assert v.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(v.mountpoint)
    assert volumes.create("data").created == v.created
    info = volumes.inspect("data")
    assert info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"team": "a"}
    assert [x.name for x in volumes.list_volumes({"label": ["team=a"]})] == ["data"]


def test_volume_errors_match_docker(volumes: VolumeStore) -> None:
    with pytest.raises(InvalidArgument, match='"a b" includes invalid characters for a local '
                       "volume name"):
        volumes.create("a b")
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        volumes.inspect("nope")
    with pytest.raises(NotFound, match='plugin "flocker" not found'):
        volumes.create("x1", driver="flocker")
    volumes.remove("nope", force=True)  # rm -f of a missing volume is quiet


def test_volume_in_use_is_refused_then_removable(volumes: VolumeStore) -> None:
    v = volumes.create("busy")
    volumes.add_ref("busy", "c" * 64)
    with pytest.raises(FailedPrecondition, match=r"^remove busy: volume is in use - \[c+\]$"):
        volumes.remove("busy", force=True)
    assert volumes.list_volumes({"dangling": ["false"]})[0].name == "busy"
    volumes.release_container("c" * 64)
    volumes.remove("busy")
    assert not os.path.exists(os.path.dirname(v.mountpoint))


def test_prune_takes_unused_anonymous_volumes_only_unless_all(volumes: VolumeStore) -> None:
    named = volumes.create("keep")
    anon = volumes.create("")
    used = volumes.create("")
    volumes.add_ref(used.name, "d" * 64)
    Path(anon.mountpoint, "f").write_bytes(b"x" * 10000)
    removed, reclaimed = volumes.prune()
    assert removed == [anon.name] and reclaimed >= 10000
    removed, _ = volumes.prune(all_volumes=True)
    assert removed == [named.name]
    assert [v.name for v in volumes.list_volumes()] == [used.name]


def test_rm_v_removes_the_containers_anonymous_volumes(volumes: VolumeStore) -> None:
    points = resolve_mounts("e" * 64, {"Volumes": {"/data": {}}},
                            {"Binds": ["named:/n"]}, volumes)
    anon = next(p for p in points if p.destination == "/data")
    assert len(anon.name) == 64 and anon.source == volumes.path(anon.name)
    removed = volumes.release_container("e" * 64, remove_anonymous=True)
    assert removed == [anon.name]
    assert [v.name for v in volumes.list_volumes()] == ["named"]


@pytest.mark.parametrize(("spec", "message"), [
    ("", "invalid volume specification: ''"),
    ("/foo:rw", "invalid volume specification: '/foo:rw'"),
    ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
    ("/a:/b:rx", "invalid mode: rx"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/a:rel", "invalid volume specification: '/a:rel': invalid mount config for type "
               "\"bind\": invalid mount path: 'rel' mount path must be absolute"),
    ("/a:/", "invalid volume specification: '/a:/': invalid mount config for type \"bind\": "
             "invalid specification: destination can't be '/'"),
    ("vol:rel", "invalid volume specification: 'vol:rel': invalid mount config for type "
                "\"volume\": invalid mount path: 'rel' mount path must be absolute"),
])
def test_volume_spec_errors_match_docker(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse.parse_volume(spec)
    assert str(err.value) == message


def test_volume_spec_forms() -> None:
    b = parse.parse_volume("/host/dir:/ctr:ro,rshared")
    assert (b.type, b.source, b.destination, b.rw, b.propagation, b.mode) == \
        ("bind", "/host/dir", "/ctr", False, "rshared", "ro,rshared")
    v = parse.parse_volume("cache:/var/cache:nocopy")
    assert (v.type, v.name, v.copy_data, v.rw) == ("volume", "cache", False, True)
    a = parse.parse_volume("/just/a/path")
    assert (a.type, a.name, a.destination) == ("volume", "", "/just/a/path")
    assert parse.oci_mount(b) == {"destination": "/ctr", "type": "bind",
                                  "source": "/host/dir", "options": ["rbind", "rshared", "ro"]}


@pytest.mark.parametrize(("csv", "message"), [
    ("type=bind,target=/x", 'invalid mount config for type "bind": field Source must not be '
                            "empty"),
    ("type=bind,source=/definitely/not/here,target=/x",
     'invalid mount config for type "bind": bind source path does not exist: '
     "/definitely/not/here"),
    ("type=tmpfs,source=/a,target=/x", 'invalid mount config for type "tmpfs": field Source '
                                       "must not be specified"),
    ("type=weird,target=/x", 'invalid mount config for type "weird": mount type unknown'),
    ("type=volume,target=/x,readonly", 'invalid mount config for type "volume": must not set '
                                       "ReadOnly mode when using anonymous volumes"),
    ("type=volume,source=v,target=/x,bind-propagation=shared",
     'invalid mount config for type "volume": field BindOptions must not be specified'),
])
def test_mount_spec_errors_match_docker(csv: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse.parse_mount_spec(parse.parse_mount_csv(csv))
    assert str(err.value) == message


def test_mount_csv_errors_match_docker_cli() -> None:
    with pytest.raises(InvalidArgument, match=r"^unexpected key 'color' in 'color=red'$"):
        parse.parse_mount_csv("type=bind,color=red,target=/x")
    with pytest.raises(InvalidArgument, match=r"^invalid field 'oops' must be a key=value pair$"):
        parse.parse_mount_csv("type=bind,oops,target=/x")
    with pytest.raises(InvalidArgument, match=r"^target is required$"):
        parse.parse_mount_csv("type=bind,source=/x")


def test_tmpfs_mounts_become_oci_tmpfs_entries(tmp_path: Path, volumes: VolumeStore) -> None:
    spec = parse.parse_mount_csv("type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770")
    mp = parse.parse_mount_spec(spec)
    assert mp.tmpfs_options == "mode=1770,size=64m"
    points = resolve_mounts("f" * 64, {}, {"Tmpfs": {"/run": "rw,size=1m"},
                                           "Mounts": [{"Type": "tmpfs", "Target": "/t"}]},
                            volumes)
    entries = oci_mounts([p.to_json() for p in points], volumes)
    run = next(e for e in entries if e["destination"] == "/run")
    assert run["type"] == "tmpfs" and "size=1m" in run["options"] and "nosuid" in run["options"]


def test_duplicate_mount_point_refused_and_nothing_left(volumes: VolumeStore,
                                                        tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^Duplicate mount point: /d$"):
        resolve_mounts("a" * 64, {}, {"Binds": ["v1:/d", f"{tmp_path}:/d"]}, volumes)
    assert volumes.list_volumes() == []


def test_bind_via_v_creates_missing_host_dir_and_volume_copy_up(volumes: VolumeStore,
                                                                 tmp_path: Path) -> None:
    host = tmp_path / "made" / "by" / "v"
    points = resolve_mounts("b" * 64, {}, {"Binds": [f"{host}:/x", "vol:/etc/app"]}, volumes)
    assert host.is_dir()
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc" / "app").mkdir(parents=True)
    (rootfs / "etc" / "app" / "conf").write_text("k=v")
    entries = oci_mounts([p.to_json() for p in points], volumes, rootfs=str(rootfs))
    vol_entry = next(e for e in entries if e["destination"] == "/etc/app")
    assert Path(vol_entry["source"], "conf").read_text() == "k=v"
    assert not copy_up(str(rootfs / "etc" / "app"), vol_entry["source"])  # only when empty


def test_caller_named_anonymous_volume_is_pruned_and_removed_by_rm_v(
        volumes: VolumeStore) -> None:
    v = volumes.create("f" * 64, anonymous=True)
    assert v.anonymous and "com.docker.volume.anonymous" in v.labels
    volumes.add_ref(v.name, "9" * 64)
    assert volumes.release_container("9" * 64, remove_anonymous=True) == [v.name]
