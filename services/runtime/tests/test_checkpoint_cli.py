"""`pyd-runc checkpoint` / `restore` commands, driven in-process through argparse.

The first container is made by runc and checkpointed by runc; from then on
pyd-runc's commands own it: restore (full), checkpoint, lazy restore through
a page server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pyd_runtime.criu.images import ImageDir
from pyd_runtime.criu.lazyimage import make_lazy_image
from pyd_runtime.criu.pageserver import PageServer
from pyd_runtime.criu.testing import Runc, make_counter_bundle, read_counter, wait_counter
from pyd_runtime.libcontainer.container import Container, NotExist

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("criu") or not shutil.which("runc"),
                       reason="needs root, criu and runc"),
    pytest.mark.skipif(not os.path.exists(str(Path(sys.executable).parent / "pyd-runc")),
                       reason="pyd-runc is not installed in this environment"),
]
MIB = 64


PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")


def pyd_runc(root, *argv: str) -> int:
    """Run the real pyd-runc binary; stderr is echoed for the failing test's report."""
    proc = subprocess.run([PYD_RUNC, "--root", str(root), *argv], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    sys.stderr.write(proc.stderr)
    return proc.returncode


@pytest.fixture
def runc_image(tmp_path):
    """A runc checkpoint of a counter container: (bundle, image dir, counter value, id)."""
    bundle = make_counter_bundle(tmp_path / "bundle", MIB)
    runc = Runc("runc", tmp_path / "runc-root")
    cid = f"pyd-cli-{uuid.uuid4().hex[:8]}"
    try:
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2)
        runc("checkpoint", "--image-path", str(tmp_path / "image0"), "--work-path",
             str(tmp_path / "work0"), cid)
    finally:
        runc.cleanup(cid)
    before = read_counter(bundle)
    assert before is not None
    return bundle, tmp_path / "image0", before.value, cid


@pytest.fixture
def pyd_root(tmp_path):
    root = tmp_path / "pyd-root"
    yield root
    for cid in (os.listdir(root) if root.exists() else []):
        try:
            Container.load(str(root), cid).destroy()
        except NotExist:
            pass


def test_restore_checkpoint_and_lazy_restore_through_pyd_runc(runc_image, pyd_root, tmp_path):
    bundle, image0, value, cid = runc_image
    # full restore of runc's image
    assert pyd_runc(pyd_root, "restore", "-d", "--image-path", str(image0), "--work-path",
                    str(tmp_path / "rwork0"), "--bundle", str(bundle),
                    "--pid-file", str(tmp_path / "pid"), cid) == 0
    c = Container.load(str(pyd_root), cid)
    assert c.status() == "running"
    assert int((tmp_path / "pid").read_text()) == c.pid
    assert set(c.cgroup_manager().pids()) == {c.pid}
    after = wait_counter(bundle, value + 2)
    assert after.ok

    # checkpoint with pyd-runc: the container is gone afterwards
    assert pyd_runc(pyd_root, "checkpoint", "--image-path", str(tmp_path / "image1"),
                    "--work-path", str(tmp_path / "work1"), cid) == 0
    with pytest.raises(NotExist):
        Container.load(str(pyd_root), cid)
    value = read_counter(bundle).value
    image1 = ImageDir(tmp_path / "image1")

    # lazy restore from a sparse local copy, pages from a page server
    make_lazy_image(image1, tmp_path / "local")
    with PageServer(image1) as ps:
        host, port = ps.address
        assert pyd_runc(pyd_root, "restore", "-d", "--page-server", f"{host}:{port}",
                        "--image-path", str(tmp_path / "local"), "--work-path",
                        str(tmp_path / "lwork"), "--bundle", str(bundle), cid) == 0
        # fetched before the container ran (not: by the command's return, which also
        # counts CRIU's background stream; see PageServer.stats.bytes_to_running)
        assert ps.stats.bytes_to_running < 0.1 * image1.memory_bytes()
        c = Container.load(str(pyd_root), cid)
        assert c.status() == "running" and c.state["lazy_pages_pid"] > 0
        assert wait_counter(bundle, value + 2).ok
        assert ps.wait_closed(60)


def test_checkpoint_of_unknown_container_fails(pyd_root, tmp_path, capsys):
    assert pyd_runc(pyd_root, "checkpoint", "--image-path", str(tmp_path / "i"), "nope") == 1
    assert "container does not exist" in capsys.readouterr().err


def test_restore_of_missing_image_leaves_nothing(runc_image, pyd_root, tmp_path, capsys):
    bundle, _image0, _value, cid = runc_image
    assert pyd_runc(pyd_root, "restore", "-d", "--image-path", str(tmp_path / "none"),
                    "--bundle", str(bundle), cid) == 1
    assert "no checkpoint image" in capsys.readouterr().err
    assert not (pyd_root / cid).exists()
    assert not any(os.path.exists(p) for p in
                   (f"/sys/fs/cgroup/memory/pyd/{cid}", f"/sys/fs/cgroup/pids/pyd/{cid}"))


def test_lazy_restore_whose_source_dies_ends_stopped_with_a_reason(runc_image, pyd_root,
                                                                   tmp_path):
    bundle, image0, _value, cid = runc_image
    make_lazy_image(image0, tmp_path / "local")
    ps = PageServer(image0, rate_limit=8 << 20).start()
    try:
        host, port = ps.address
        assert pyd_runc(pyd_root, "restore", "-d", "--page-server", f"{host}:{port}",
                        "--image-path", str(tmp_path / "local"), "--work-path",
                        str(tmp_path / "lwork"), "--bundle", str(bundle), cid) == 0
        c = Container.load(str(pyd_root), cid)
        assert c.status() == "running"
    finally:
        ps.stop()
    deadline = time.monotonic() + 10
    while c.status() != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.status() == "stopped"
    assert "killed" in (pyd_root / cid / "lazy-pages.failed").read_text()
    guardian = c.state["lazy_pages_pid"]
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{guardian}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{guardian}"), "lazy-pages guardian left behind"
    paths = list(c.state["cgroup_paths"].values())
    assert pyd_runc(pyd_root, "delete", cid) == 0
    assert not (pyd_root / cid).exists()
    assert not any(os.path.exists(p) for p in paths)


def test_restore_reconnects_stdio_pipes(tmp_path, pyd_root):
    """A container writing to a pipe is restored writing to the restorer's pipe
    (descriptors.json → inherit_fd), as the shim's stdio needs."""
    import json

    bundle = make_counter_bundle(tmp_path / "bundle", 1)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; "
                               "sleep 0.1; done"]
    (bundle / "config.json").write_text(json.dumps(spec))
    runc = Runc("runc", tmp_path / "runc-root")
    cid = f"pyd-pipe-{uuid.uuid4().hex[:8]}"
    r, w = os.pipe()
    try:
        subprocess.run(["runc", "--root", str(runc.root), "run", "-d", "--bundle", str(bundle),
                        cid], stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.DEVNULL,
                       check=True, timeout=60)
        os.close(w)
        w = -1
        with os.fdopen(r, "r") as f:
            r = -1
            assert f.readline().startswith("tick")
            runc("checkpoint", "--image-path", str(tmp_path / "image"), cid)
    finally:
        runc.cleanup(cid)
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    descriptors = json.loads((tmp_path / "image" / "descriptors.json").read_text())
    assert descriptors[1].startswith("pipe:")
    r2, w2 = os.pipe()
    try:
        proc = subprocess.run([PYD_RUNC, "--root", str(pyd_root), "restore", "-d",
                               "--image-path", str(tmp_path / "image"), "--bundle", str(bundle),
                               cid], stdin=subprocess.DEVNULL, stdout=w2,
                              stderr=subprocess.PIPE, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        os.close(w2)
        w2 = -1
        with os.fdopen(r2, "r") as f:
            r2 = -1
            line = f.readline()
        assert line.startswith("tick ") and int(line.split()[1]) > 1, line
    finally:
        for fd in (r2, w2):
            if fd >= 0:
                os.close(fd)


@pytest.mark.skipif(not shutil.which("ip"), reason="needs iproute2")
def test_restore_into_another_network_namespace(tmp_path, pyd_root):
    """Checkpoint in one named netns, restore into another: how a second host's stack
    (its own network namespace) takes a container over."""
    import json

    suffix = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"pyd-criu-a-{suffix}", f"pyd-criu-b-{suffix}"
    bundle = make_counter_bundle(tmp_path / "bundle", 8)
    runc = Runc("runc", tmp_path / "runc-root")
    cid = f"pyd-netns-{suffix}"
    try:
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        spec = json.loads((bundle / "config.json").read_text())
        for n in spec["linux"]["namespaces"]:
            if n["type"] == "network":
                n["path"] = f"/var/run/netns/{ns_a}"
        (bundle / "config.json").write_text(json.dumps(spec))
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2)
        runc("checkpoint", "--image-path", str(tmp_path / "image"), cid)
        runc.cleanup(cid)
        value = read_counter(bundle).value
        for n in spec["linux"]["namespaces"]:
            if n["type"] == "network":
                n["path"] = f"/var/run/netns/{ns_b}"
        (bundle / "config.json").write_text(json.dumps(spec))
        assert pyd_runc(pyd_root, "restore", "-d", "--image-path", str(tmp_path / "image"),
                        "--bundle", str(bundle), cid) == 0
        c = Container.load(str(pyd_root), cid)
        assert os.stat(f"/proc/{c.pid}/ns/net").st_ino == \
            os.stat(f"/var/run/netns/{ns_b}").st_ino
        assert wait_counter(bundle, value + 2).ok
    finally:
        runc.cleanup(cid)
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_lazy_restore_over_tls_needs_the_right_certificate(runc_image, pyd_root, tmp_path):
    from pyd_runtime.criu.pageserver import tls_server_context
    from pyd_runtime.criu.testing import make_tls_set

    bundle, image0, value, cid = runc_image
    tls = make_tls_set(tmp_path / "tls")
    make_lazy_image(image0, tmp_path / "local")
    ctx = tls_server_context(tls.server_cert, tls.server_key, tls.ca)
    with PageServer(image0, ssl_context=ctx) as ps:
        host, port = ps.address

        def restore(cert, key, work):
            return pyd_runc(pyd_root, "restore", "-d", "--page-server", f"{host}:{port}",
                            "--tls-cacert", str(tls.ca), "--tls-cert", str(cert),
                            "--tls-key", str(key), "--image-path", str(tmp_path / "local"),
                            "--work-path", str(tmp_path / work), "--bundle", str(bundle), cid)

        # a destination whose certificate the source's CA did not sign gets nothing:
        # lazy-pages fails its handshake either during the restore (which then fails)
        # or just after it (and the guardian kills the container)
        if restore(tls.rogue_cert, tls.rogue_key, "w-rogue") == 0:
            c = Container.load(str(pyd_root), cid)
            deadline = time.monotonic() + 10
            while c.status() != "stopped" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.status() == "stopped"
            assert (pyd_root / cid / "lazy-pages.failed").exists()
            assert pyd_runc(pyd_root, "delete", cid) == 0
        assert ps.stats.pages_sent == 0
        assert not (pyd_root / cid).exists()
        assert restore(tls.client_cert, tls.client_key, "w-good") == 0
        assert wait_counter(bundle, value + 2).ok
        assert ps.wait_closed(60)


def test_lazy_checkpoint_serves_pages_until_the_destination_has_them(runc_image, pyd_root,
                                                                     tmp_path):
    """`checkpoint --lazy-pages --page-server A:P` (runc's lazy migration): pyd dumps and
    serves the pages itself, since CRIU's own page server fails on this kernel."""
    import select
    import socket

    bundle, image0, value, cid = runc_image
    assert pyd_runc(pyd_root, "restore", "-d", "--image-path", str(image0), "--work-path",
                    str(tmp_path / "w0"), "--bundle", str(bundle), cid) == 0
    value = wait_counter(bundle, value + 1).value
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r, w = os.pipe()
    src = subprocess.Popen([PYD_RUNC, "--root", str(pyd_root), "checkpoint", "--lazy-pages",
                            "--page-server", f"127.0.0.1:{port}", "--status-fd", str(w),
                            "--image-path", str(tmp_path / "image1"), "--work-path",
                            str(tmp_path / "w1"), cid], pass_fds=(w,),
                           stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        os.close(w)
        ready, _, _ = select.select([r], [], [], 60)
        assert ready and os.read(r, 1) == b"\0", src.stderr.read() if src.poll() else ""
        assert not (pyd_root / cid).exists(), "the checkpointed container is gone"
        value = read_counter(bundle).value
        make_lazy_image(tmp_path / "image1", tmp_path / "local")
        assert pyd_runc(pyd_root, "restore", "-d", "--page-server", f"127.0.0.1:{port}",
                        "--image-path", str(tmp_path / "local"), "--work-path",
                        str(tmp_path / "w2"), "--bundle", str(bundle), cid) == 0
        assert wait_counter(bundle, value + 2).ok
        assert src.wait(60) == 0, src.stderr.read()
    finally:
        os.close(r)
        if src.poll() is None:
            src.kill()
            src.wait()
