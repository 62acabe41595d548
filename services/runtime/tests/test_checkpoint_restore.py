"""Checkpoint and restore of a running counter container, with real CRIU.

Runs against Debian's runc (the reference) and, when it can run containers,
pyd-runc.  Lazy restores start `criu lazy-pages` themselves for runc; pyd-runc
starts it from `restore --lazy-pages [--page-server HOST:PORT]`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

from pyd_runtime.criu.criu import Criu, LazyPagesDaemon
from pyd_runtime.criu.images import ImageDir
from pyd_runtime.criu.lazyimage import make_lazy_image
from pyd_runtime.criu.pageserver import PageServer
from pyd_runtime.criu.testing import (
    Runc,
    make_counter_bundle,
    read_counter,
    running_counter,
    wait_counter,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("criu"),
                       reason="needs root and criu"),
]

MIB = 128


PYD_RUNC = str(Path(sys.executable).parent / "pyd-runc")


def runtimes() -> list[object]:
    return [
        pytest.param("runc", marks=pytest.mark.skipif(not shutil.which("runc"),
                                                      reason="runc not installed")),
        pytest.param(PYD_RUNC, id="pyd-runc", marks=pytest.mark.skipif(
            not os.path.exists(PYD_RUNC), reason="pyd-runc not installed")),
    ]


def holding(mib: int):
    """Make the test's counter container hold `mib` MiB."""
    def mark(fn):
        fn.mib = mib
        return fn
    return mark


@pytest.fixture(params=runtimes())
def runtime(request, tmp_path):
    return Runc(request.param, tmp_path / "state")


@pytest.fixture
def counter(request, tmp_path, runtime):
    """A running counter container: (runtime, bundle, id); always cleaned up.

    It holds MIB MiB unless the test says otherwise with ``@holding(N)``.
    """
    bundle = make_counter_bundle(tmp_path / "bundle", getattr(request.function, "mib", MIB))
    cid = f"pyd-ckpt-{uuid.uuid4().hex[:8]}"
    if not is_runc(runtime):
        # pyd-runc's create/start are being written alongside: skip until it runs one
        probe = runtime("run", "-d", "--bundle", str(bundle), cid, check=False)
        runtime.cleanup(cid)
        if probe.returncode != 0:
            pytest.skip(f"pyd-runc cannot run the counter yet: {probe.stderr.strip()[-200:]}")
    with running_counter(runtime, bundle, cid):
        yield runtime, bundle, cid


def checkpoint(runtime: Runc, cid: str, image: Path, work: Path) -> None:
    runtime("checkpoint", "--image-path", str(image), "--work-path", str(work), cid)
    assert runtime.state(cid) is None, "checkpoint without --leave-running removes it"


def is_runc(runtime: Runc) -> bool:
    return os.path.basename(runtime.argv[0]) == "runc"


def assert_counter_continues(bundle: Path, at_checkpoint: int) -> None:
    after = wait_counter(bundle, at_checkpoint + 3, timeout=20)
    assert after.ok, "memory sample differs from what the program wrote"
    # continuing, not starting over: a fresh start would have counted from 1
    assert after.value > at_checkpoint


def test_full_restore_keeps_memory(counter, tmp_path):
    runtime, bundle, cid = counter
    checkpoint(runtime, cid, tmp_path / "image", tmp_path / "work")
    before = read_counter(bundle)
    assert before is not None and before.ok
    runtime("restore", "-d", "--image-path", str(tmp_path / "image"), "--work-path",
            str(tmp_path / "rwork"), "--bundle", str(bundle), cid)
    st = runtime.state(cid)
    assert st is not None and st["status"] == "running"
    assert_counter_continues(bundle, before.value)


def test_checkpoint_leave_running_keeps_the_container(counter, tmp_path):
    runtime, bundle, cid = counter
    runtime("checkpoint", "--leave-running", "--image-path", str(tmp_path / "image"),
            "--work-path", str(tmp_path / "work"), cid)
    st = runtime.state(cid)
    assert st is not None and st["status"] == "running"
    v = read_counter(bundle)
    assert v is not None
    wait_counter(bundle, v.value + 2)
    assert ImageDir(tmp_path / "image").memory_bytes() >= MIB << 20


def test_lazy_restore_from_local_image(counter, tmp_path):
    runtime, bundle, cid = counter
    image, work = tmp_path / "image", tmp_path / "lwork"
    checkpoint(runtime, cid, image, tmp_path / "work")
    before = read_counter(bundle)
    assert before is not None
    daemon: LazyPagesDaemon | None = None
    try:
        # as with runc, a plain --lazy-pages restore needs a lazy-pages daemon running
        daemon = Criu().start_lazy_pages(image, work)
        runtime("restore", "-d", "--lazy-pages", "--image-path", str(image), "--work-path",
                str(work), "--bundle", str(bundle), cid)
        assert_counter_continues(bundle, before.value)
        if daemon is not None:
            assert daemon.wait(60) == 0
    finally:
        if daemon is not None:
            daemon.stop()


# 512 MiB as in the two-host test: 10% must hold although CRIU's background
# transfer starts streaming the moment the tasks resume.
@holding(512)
def test_lazy_restore_through_page_server(counter, tmp_path):
    runtime, bundle, cid = counter
    image, work = tmp_path / "image", tmp_path / "lwork"
    checkpoint(runtime, cid, image, tmp_path / "work")
    before = read_counter(bundle)
    assert before is not None
    memory = ImageDir(image).memory_bytes()
    # the destination starts from a sparse copy: no lazy pages at all
    local = tmp_path / "local-image"
    plan = make_lazy_image(image, local)
    assert sum(p.bytes_to_copy for p in plan if p.name.startswith("pages-")) < 0.1 * memory

    daemon: LazyPagesDaemon | None = None
    with PageServer(image) as ps:
        host, port = ps.address
        try:
            t0 = time.monotonic()
            args = ["restore", "-d", "--lazy-pages", "--image-path", str(local),
                    "--work-path", str(work), "--bundle", str(bundle)]
            if is_runc(runtime):
                daemon = Criu().start_lazy_pages(local, work, page_server=(host, port))
            else:
                args += ["--page-server", f"{host}:{port}"]
            runtime(*args, cid)
            ttr = time.monotonic() - t0
            sent_at_return = ps.stats.bytes_sent
            st = runtime.state(cid)
            assert st is not None and st["status"] == "running"
            # What the restore fetched before the container ran: the bytes sent before
            # lazy-pages began its background stream (which it begins when the restore
            # finishes). The count at the command's return also holds whatever the
            # stream sent while the command was exiting: load-dependent, so only shown.
            to_running = ps.stats.bytes_to_running
            print(f"\n{runtime.argv[0]}: running after {ttr * 1000:.0f} ms; "
                  f"{to_running} bytes of {memory >> 20} MiB fetched before running, "
                  f"{sent_at_return / memory:.1%} sent by the command's return")
            assert to_running < 0.1 * memory, (to_running, sent_at_return, memory, ttr)
            assert_counter_continues(bundle, before.value)
            # the background transfer completes, then lazy-pages lets go
            assert ps.wait_closed(60)
            assert ps.stats.pages_sent * 4096 >= ImageDir(image).lazy_bytes()
            assert ps.stats.errors == 0
            if daemon is not None:
                assert daemon.wait(30) == 0
        finally:
            if daemon is not None:
                daemon.stop()
    # with the page server gone, the container keeps running on its own memory
    v = read_counter(bundle)
    assert v is not None
    assert wait_counter(bundle, v.value + 2).ok


def _dirty_tracking() -> bool:
    import subprocess

    return subprocess.run(["criu", "check", "--feature", "mem_dirty_track"],
                          capture_output=True).returncode == 0


@pytest.mark.skipif(_dirty_tracking(), reason="this kernel tracks dirty memory")
def test_pre_dump_without_dirty_tracking_is_refused(counter, tmp_path):
    runtime, _bundle, cid = counter
    proc = runtime("checkpoint", "--pre-dump", "--image-path", str(tmp_path / "pre"), cid,
                   check=False)
    assert proc.returncode != 0 and proc.stderr.strip()
    st = runtime.state(cid)
    assert st is not None and st["status"] == "running"
    print(f"\n{runtime.argv[0]}: {proc.stderr.strip()}")


def test_restore_with_bind_mounts(runtime, tmp_path):
    """Bind mounts (a directory and a file, as Docker's volumes and /etc/hosts) are
    external mounts for CRIU: dumped by destination, restored from their sources."""
    import json

    bundle = make_counter_bundle(tmp_path / "bundle", 8)
    (tmp_path / "vol").mkdir()
    (tmp_path / "vol" / "data").write_text("volume\n")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    spec = json.loads((bundle / "config.json").read_text())
    spec["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(tmp_path / "vol"),
         "options": ["rbind", "rw"]},
        {"destination": "/etc/hosts", "type": "bind", "source": str(tmp_path / "hosts"),
         "options": ["bind", "ro"]},
    ]
    (bundle / "config.json").write_text(json.dumps(spec))
    cid = f"pyd-bind-{uuid.uuid4().hex[:8]}"
    try:
        runtime("run", "-d", "--bundle", str(bundle), cid)
        wait_counter(bundle, 2)
        checkpoint(runtime, cid, tmp_path / "image", tmp_path / "work")
        before = read_counter(bundle)
        assert before is not None
        runtime("restore", "-d", "--image-path", str(tmp_path / "image"), "--work-path",
                str(tmp_path / "rwork"), "--bundle", str(bundle), cid)
        assert_counter_continues(bundle, before.value)
        st = runtime.state(cid)
        assert st is not None
        with open(f"/proc/{st['pid']}/root/data/data") as f:
            assert f.read() == "volume\n"
        with open(f"/proc/{st['pid']}/root/etc/hosts") as f:
            assert f.read() == "127.0.0.1 localhost\n"
    finally:
        runtime.cleanup(cid)
