"""Interop with upstream containerd and ctr (Debian's packages), when installed:
the same archive gives the same manifest digest and chain IDs, each side loads the
other's export, and ctr reads pyd-containerd's API."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from containerd_testimages import docker_save, layer_tar, sha
from sqlalchemy import Engine

from pyd_containerd.images.exporter import Exporter
from pyd_containerd.images.unpack import chain_ids

pytestmark = pytest.mark.skipif(not shutil.which("containerd") or not shutil.which("ctr"),
                                reason="needs Debian's containerd and ctr")

L1 = layer_tar([("a", "f", "A"), ("d", "d", None), ("d/x", "f", "x")])
L2 = layer_tar([(".wh.a", "f", ""), ("d", "d", None), ("d/.wh..wh..opq", "f", ""),
                ("d/y", "f", "y")])


def ctr(sock: Path, *args: str, ns: str = "default") -> str:
    out = subprocess.run(["ctr", "-a", str(sock), "-n", ns, *args], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, f"ctr {' '.join(args)}: {out.stderr}"
    return out.stdout


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "upstream"
    d.mkdir()
    sock = d / "c.sock"
    (d / "config.toml").write_text(f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
""")
    proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                            stdout=subprocess.DEVNULL, stderr=open(d / "log", "wb"))
    try:
        for _ in range(100):
            if sock.exists() and subprocess.run(
                    ["ctr", "-a", str(sock), "version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("containerd did not start: " + (d / "log").read_text())
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


def test_upstream_containerd_and_pyd_agree_on_archives(upstream: Path, tmp_path: Path,
                                                        engine: Engine) -> None:
    from test_images import World

    archive = tmp_path / "img.tar"
    archive.write_bytes(docker_save([L1, L2], ["demo:1"], gz_layers=True))
    ctr(upstream, "images", "import", str(archive))
    theirs = ctr(upstream, "images", "ls", "-q")
    assert theirs.split() == ["docker.io/library/demo:1"]
    their_digest = ctr(upstream, "images", "ls").split("\n")[1].split()[2]
    their_snaps = ctr(upstream, "snapshots", "ls").split()
    ctr(upstream, "images", "export", str(tmp_path / "theirs.tar"), "docker.io/library/demo:1")

    w = World(engine, tmp_path / "pyd")
    [ours] = w.load(archive.read_bytes())
    assert ours.target.digest == their_digest  # same manifest bytes from the same archive
    chains = chain_ids([sha(L1), sha(L2)])
    assert [s.name for s in w.sn.list("default")] == chains
    assert set(chains) <= set(their_snaps)
    [again] = w.importer.import_file("other", str(tmp_path / "theirs.tar"))
    assert again.target.digest == their_digest

    with open(tmp_path / "ours.tar", "wb") as f:
        Exporter(w.images, w.content).export("default", [ours.name], f)
    ctr(upstream, "images", "import", str(tmp_path / "ours.tar"), ns="frompyd")
    assert ctr(upstream, "images", "ls", "-q", ns="frompyd").split() == [ours.name]
    assert set(chains) <= set(ctr(upstream, "snapshots", "ls", ns="frompyd").split())


def test_ctr_reads_pyd_containerd(tmp_path: Path) -> None:
    from pyd_containerd.config import Config
    from pyd_containerd.server import make_server

    cfg = Config(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                 address=str(tmp_path / "pyd.sock"))
    daemon = make_server(cfg)
    daemon.start()
    sock = Path(cfg.socket_path)
    try:
        archive = tmp_path / "img.tar"
        archive.write_bytes(docker_save([L1, L2], ["demo:1"]))
        # ctr's own import path: Leases, Content.Write, Images.Create (unpacking needs
        # the Diff service, which pyd-containerd does not serve)
        ctr(sock, "images", "import", "--no-unpack", str(archive))
        assert ctr(sock, "images", "ls", "-q").split() == ["docker.io/library/demo:1"]
        from pyd_proto import dial
        from pyd_proto.pyd.containerd.v1 import transfer_pb2, transfer_pb2_grpc

        with dial.channel(str(sock)) as ch:  # what ctr cannot do here: unpack it
            chain = transfer_pb2_grpc.TransferStub(ch).Unpack(transfer_pb2.UnpackRequest(
                name="docker.io/library/demo:1"),
                metadata=(("containerd-namespace", "default"),)).chain_id
        assert chain == chain_ids([sha(L1), sha(L2)])[-1]
        assert chain in ctr(sock, "snapshots", "ls")
        # (`ctr version` prints our version, then fails on the Introspection service)
        assert "default" in ctr(sock, "namespaces", "ls")
        ctr(sock, "snapshots", "prepare", "k1")
        assert "k1" in ctr(sock, "snapshots", "ls")
        out = io.StringIO(ctr(sock, "content", "ls")).read()
        assert "gc.ref.content" in out
        ctr(sock, "images", "rm", "--sync", "docker.io/library/demo:1")
        assert ctr(sock, "images", "ls", "-q").split() == []
    finally:
        daemon.stop(0)
