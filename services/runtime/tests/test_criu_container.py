"""pyd's CRIU requests (criu/container.py) against containers that runc made.

The checkpoint side is checked by restoring pyd's image with runc; the restore
side by restoring runc's image with pyd's code, into a cgroup of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid

import pytest

from pyd_runtime.criu.container import (
    LAZY_PAGES_FAILED,
    CheckpointError,
    CheckpointOptions,
    ContainerInfo,
    RestoreOptions,
    checkpoint,
    dump_request,
    parse_host_port,
    restore,
)
from pyd_runtime.criu.criu import Criu
from pyd_runtime.criu.images import ImageDir
from pyd_runtime.criu.lazyimage import make_lazy_image
from pyd_runtime.criu.pageserver import PageServer
from pyd_runtime.criu.rpc import ReqType
from pyd_runtime.criu.testing import (
    Runc,
    ScratchCgroups,
    make_counter_bundle,
    read_counter,
    reap,
    wait_counter,
)

needs_criu = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("criu") or not shutil.which("runc"),
    reason="needs root, criu and runc",
)
MIB = 64


def test_parse_host_port():
    assert parse_host_port("10.0.0.1:8000") == ("10.0.0.1", 8000)
    assert parse_host_port("[::1]:27") == ("::1", 27)
    with pytest.raises(CheckpointError):
        parse_host_port("nohost")


def test_dump_request_mirrors_runc(tmp_path):
    spec = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/data", "type": "bind", "source": "/srv/data",
                    "options": ["rbind"]}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/self/ns/net"}],
                  "maskedPaths": ["/proc/kcore"]},
    }
    (tmp_path / "rootfs").mkdir()
    c = ContainerInfo.from_spec(spec, tmp_path / "state", "x", bundle=str(tmp_path),
                                init_pid=os.getpid(),
                                cgroup_paths={"freezer": "/sys/fs/cgroup/freezer/x"})
    req = dump_request(c, CheckpointOptions(tmp_path / "img", leave_running=True), 5, None, 40101)
    o = req.opts
    assert req.type == ReqType.DUMP and o is not None
    assert o.root == str(tmp_path / "rootfs") and o.pid == os.getpid() and o.leave_running
    assert o.manage_cgroups and o.notify_scripts and o.orphan_pts_master
    assert o.empty_ns == 0x40000000  # runc never restores network devices
    assert o.freeze_cgroup == "/sys/fs/cgroup/freezer/x"
    assert ("/data", "/data") in o.ext_mnt and ("/dev/null", "/dev/null") in o.ext_mnt
    ino = os.stat("/proc/self/ns/net").st_ino
    assert o.external == [f"net[{ino}]:extRootNetNS"]
    pre = dump_request(c, CheckpointOptions(tmp_path / "img", pre_dump=True, parent_path="../p"),
                       5, None, 40101)
    assert pre.type == ReqType.PRE_DUMP and pre.opts is not None
    assert pre.opts.track_mem and pre.opts.parent_img == "../p" and not pre.opts.ext_mnt


@pytest.fixture
def runc_counter(tmp_path):
    bundle = make_counter_bundle(tmp_path / "bundle", MIB)
    runc = Runc("runc", tmp_path / "runc-root")
    cid = f"pyd-cc-{uuid.uuid4().hex[:8]}"
    try:
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2)
        yield runc, bundle, cid
    finally:
        runc.cleanup(cid)


@needs_criu
def test_pyd_checkpoint_restores_with_runc(runc_counter, tmp_path):
    runc, bundle, cid = runc_counter
    c = ContainerInfo.from_state_dir(runc.root / cid)
    assert c.init_pid > 0 and c.rootfs == str((bundle / "rootfs").resolve())
    checkpoint(c, CheckpointOptions(tmp_path / "image", tmp_path / "work"))
    before = read_counter(bundle)
    assert before is not None
    assert json.loads((tmp_path / "image" / "descriptors.json").read_text())
    runc("delete", "-f", cid)  # runc's state outlives a dump done behind its back
    runc("restore", "-d", "--image-path", str(tmp_path / "image"), "--work-path",
         str(tmp_path / "rwork"), "--bundle", str(bundle), cid)
    after = wait_counter(bundle, before.value + 2)
    assert after.ok


def _runc_image(runc, bundle, cid, tmp_path):
    runc("checkpoint", "--image-path", str(tmp_path / "image"), "--work-path",
         str(tmp_path / "work"), cid)
    before = read_counter(bundle)
    assert before is not None
    spec = json.loads((bundle / "config.json").read_text())
    state_dir = tmp_path / "pyd-state" / cid
    state_dir.mkdir(parents=True)
    return before, ContainerInfo.from_spec(spec, state_dir, cid, bundle=str(bundle))


@needs_criu
def test_pyd_restore_of_runc_checkpoint_keeps_memory(runc_counter, tmp_path):
    runc, bundle, cid = runc_counter
    before, c = _runc_image(runc, bundle, cid, tmp_path)
    cg = ScratchCgroups(f"pyd-criu-test-{cid}")
    pid = 0
    seen: list[int] = []
    try:
        res = restore(c, RestoreOptions(tmp_path / "image", tmp_path / "rwork"),
                      apply_cgroups=cg.apply, on_restored=seen.append)
        pid = res.pid
        assert seen == [pid] and pid in cg.pids()
        assert wait_counter(bundle, before.value + 2).ok
        assert not os.path.exists(os.path.join(c.state_dir, "criu-root"))
    finally:
        if pid:
            reap(pid)
        cg.destroy()


@needs_criu
def test_pyd_lazy_restore_through_page_server(runc_counter, tmp_path):
    runc, bundle, cid = runc_counter
    before, c = _runc_image(runc, bundle, cid, tmp_path)
    image = ImageDir(tmp_path / "image")
    make_lazy_image(image, tmp_path / "local")
    cg = ScratchCgroups(f"pyd-criu-test-{cid}")
    pid = 0
    daemon = None
    try:
        with PageServer(image) as ps:
            res = restore(c, RestoreOptions(tmp_path / "local", tmp_path / "rwork",
                                            lazy_pages=True, page_server=ps.address),
                          apply_cgroups=cg.apply)
            pid, daemon = res.pid, res.lazy_pages
            assert ps.stats.bytes_to_running < 0.1 * image.memory_bytes()
            assert wait_counter(bundle, before.value + 2).ok
            assert daemon is not None and daemon.wait(60) == 0
            assert ps.wait_closed(10)
    finally:
        if daemon is not None:
            daemon.stop()
        if pid:
            reap(pid)
        cg.destroy()


@needs_criu
def test_source_dying_mid_transfer_kills_the_restored_container(runc_counter, tmp_path):
    runc, bundle, cid = runc_counter
    _before, c = _runc_image(runc, bundle, cid, tmp_path)
    image = ImageDir(tmp_path / "image")
    make_lazy_image(image, tmp_path / "local")
    cg = ScratchCgroups(f"pyd-criu-test-{cid}")
    pid = 0
    daemon = None
    try:
        # 8 MiB/s: the 64 MiB would take 8 s, the server goes away long before
        ps = PageServer(image, rate_limit=8 << 20).start()
        try:
            res = restore(c, RestoreOptions(tmp_path / "local", tmp_path / "rwork",
                                            lazy_pages=True, page_server=ps.address),
                          apply_cgroups=cg.apply)
            pid, daemon = res.pid, res.lazy_pages
            time.sleep(0.3)
        finally:
            ps.stop()
        assert daemon is not None
        assert daemon.wait(10) != 0
        deadline = time.monotonic() + 10
        while pid in cg.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid not in cg.pids(), "the restored process outlived its memory source"
        with open(os.path.join(c.state_dir, LAZY_PAGES_FAILED)) as f:
            failed = f.read()
        assert "killed" in failed
    finally:
        if daemon is not None:
            daemon.stop()
        if pid:
            reap(pid)
        cg.destroy()


@needs_criu
def test_lazy_restore_of_a_process_tree_serves_every_task(tmp_path):
    """Three tasks, three pagemaps: the page server answers for each image pid."""
    bundle = make_counter_bundle(tmp_path / "bundle", 16)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["/bin/sh", "-c", "exec </dev/null >/dev/null 2>&1; "
                               "/counter-bin 16 & /counter-bin 8 & wait"]
    (bundle / "config.json").write_text(json.dumps(spec))
    runc = Runc("runc", tmp_path / "runc-root")
    cid = f"pyd-tree-{uuid.uuid4().hex[:8]}"
    daemon = None
    try:
        runc("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2)
        runc("checkpoint", "--image-path", str(tmp_path / "image"), cid)
        image = ImageDir(tmp_path / "image")
        assert len(image.pids) == 3
        make_lazy_image(image, tmp_path / "local")
        with PageServer(image) as ps:
            daemon = Criu().start_lazy_pages(tmp_path / "local", tmp_path / "lwork",
                                             page_server=ps.address)
            runc("restore", "-d", "--lazy-pages", "--image-path", str(tmp_path / "local"),
                 "--work-path", str(tmp_path / "lwork"), "--bundle", str(bundle), cid)
            assert wait_counter(bundle, read_counter(bundle).value + 2).ok
            assert ps.wait_closed(30) and daemon.wait(30) == 0
            assert ps.stats.pages_sent >= sum(pm.lazy_pages for pm in image.pagemaps().values())
    finally:
        if daemon is not None:
            daemon.stop()
        runc.cleanup(cid)
