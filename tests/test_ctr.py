"""Debian's `ctr` (containerd 1.6) drives pyd-containerd (issue 8).

One stack for the module: `ctr --address <its containerd socket>` reads what pyd
made (namespace `moby`, the embedded busybox image, a running container) and runs
containers of its own from that image. Containers ctr starts are put under the
stack's cgroup parent and their fifos under its base directory, so the stack's
teardown removes whatever a failing test leaves.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyd_containerd.mount import temp_mount
from pyd_containerd.snapshots import Mount
from tests.stack import Stack, private_stack

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(shutil.which("ctr") is None, reason="needs Debian's ctr")]

IMAGE = "docker.io/library/busybox:latest"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with private_stack() as s:
        assert s.cli("run", "-d", "--name", "web", "busybox", "sleep", "1000").returncode == 0
        yield s


def ctr(stack: Stack, *args: str, ns: str = "moby", timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", str(stack.containerd_socket), "-n", ns, *args],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def run_args(stack: Stack, id: str) -> list[str]:
    """`ctr run` flags that keep the container's cgroup and fifos inside the stack."""
    fifo = stack.base / "fifo"
    fifo.mkdir(exist_ok=True)
    return ["--cgroup", f"/{stack.cgroup_parent}/{id}", "--fifo-dir", str(fifo)]


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[1:]]


def test_ctr_version_shows_server_version_and_uuid(stack: Stack) -> None:
    first = ctr(stack, "version")
    assert first.returncode == 0, first.stderr
    assert re.search(r"Server:\n\s+Version:\s+0\.1\.0\n\s+Revision:\s+pyd\n\s+UUID:\s+"
                     r"[0-9a-f-]{36}", first.stdout), first.stdout
    uuid_ = first.stdout.split("UUID:")[1].split()[0]
    # the UUID is the daemon's, kept on disk: the same on every call
    assert uuid_ in ctr(stack, "version").stdout
    stored = stack.root / "containerd" / "io.containerd.grpc.v1.introspection" / "uuid"
    assert stored.read_text().strip() == uuid_


def test_ctr_plugins_lists_what_containerd_serves(stack: Stack) -> None:
    out = ctr(stack, "plugins", "ls")
    assert out.returncode == 0, out.stderr
    plugins = {(r[0], r[1]) for r in rows(out.stdout)}
    assert {("io.containerd.snapshotter.v1", "overlayfs"), ("io.containerd.differ.v1", "walking"),
            ("io.containerd.grpc.v1", "introspection"), ("io.containerd.grpc.v1", "diff"),
            ("io.containerd.grpc.v1", "tasks"), ("io.containerd.grpc.v1", "version")} <= plugins
    only = ctr(stack, "plugins", "ls", "type==io.containerd.differ.v1")
    assert [r[:2] for r in rows(only.stdout)] == [["io.containerd.differ.v1", "walking"]]


def test_ctr_lists_pyd_namespaces_images_containers_and_tasks(stack: Stack) -> None:
    cid = json.loads(stack.cli("inspect", "web").stdout)[0]["Id"]
    pid = json.loads(stack.cli("inspect", "web").stdout)[0]["State"]["Pid"]
    assert "moby" in [r[0] for r in rows(ctr(stack, "namespaces", "ls").stdout)]
    images = ctr(stack, "images", "ls")
    assert images.returncode == 0, images.stderr
    assert IMAGE in [r[0] for r in rows(images.stdout)]
    containers = ctr(stack, "containers", "ls")
    assert [cid, "io.containerd.runc.v2"] in [[r[0], r[-1]] for r in rows(containers.stdout)]
    tasks = ctr(stack, "tasks", "ls")
    assert [cid, str(pid), "RUNNING"] in rows(tasks.stdout), tasks.stdout


def test_ctr_run_rm_runs_a_pyd_image_and_cleans_up(stack: Stack) -> None:
    id = f"ctr-{uuid.uuid4().hex[:6]}"
    out = ctr(stack, "run", "--rm", *run_args(stack, id), IMAGE, id,
              "sh", "-c", "echo hello from pid $$; exit 3")
    assert out.stdout.strip() == "hello from pid 1", out.stderr  # in its own pid namespace
    assert out.returncode == 3  # ctr exits with the task's status
    assert id not in ctr(stack, "containers", "ls").stdout
    assert id not in ctr(stack, "snapshots", "ls").stdout
    # pyd's own container is left alone
    assert json.loads(stack.cli("inspect", "web").stdout)[0]["State"]["Running"] is True


def test_ctr_run_detached_then_kill_and_delete(stack: Stack) -> None:
    id = f"ctr-{uuid.uuid4().hex[:6]}"
    started = ctr(stack, "run", "-d", *run_args(stack, id), IMAGE, id, "sleep", "1000")
    assert started.returncode == 0, started.stderr
    task = [r for r in rows(ctr(stack, "tasks", "ls").stdout) if r[0] == id]
    assert task and task[0][2] == "RUNNING"
    assert task[0][1] in ctr(stack, "tasks", "ps", id).stdout
    assert ctr(stack, "tasks", "kill", "-s", "SIGKILL", id).returncode == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if [id, task[0][1], "STOPPED"] in rows(ctr(stack, "tasks", "ls").stdout):
            break
        time.sleep(0.1)
    else:
        pytest.fail("task did not stop")
    deleted = ctr(stack, "tasks", "delete", id)
    assert deleted.returncode == 0, deleted.stderr
    assert ctr(stack, "containers", "delete", id).returncode == 0
    assert id not in ctr(stack, "containers", "ls").stdout


def wait_subscribed(stack: Stack, lines: list[str]) -> None:
    """Make snapshot events until `ctr events` prints one: then it is subscribed."""
    chain = next(r[0] for r in rows(ctr(stack, "snapshots", "ls").stdout)
                 if r[0].startswith("sha256:"))
    for _ in range(60):
        key = f"probe-{uuid.uuid4().hex[:6]}"
        assert ctr(stack, "snapshots", "prepare", key, chain).returncode == 0
        ctr(stack, "snapshots", "rm", key)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            if any(key in line for line in lines):
                return
            time.sleep(0.05)
    pytest.fail("ctr events never printed an event")


def test_ctr_events_decodes_task_events(stack: Stack) -> None:
    events = subprocess.Popen(["ctr", "--address", str(stack.containerd_socket), "events"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(events.stdout or ()), daemon=True)
    reader.start()
    id = f"ctr-{uuid.uuid4().hex[:6]}"
    try:
        wait_subscribed(stack, lines)
        assert ctr(stack, "run", "--rm", *run_args(stack, id), IMAGE, id, "true").returncode == 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
                " /containers/delete " in line and id in line for line in lines):
            time.sleep(0.1)
    finally:
        events.terminate()
        events.wait(timeout=10)
        reader.join(timeout=10)
    out = "".join(lines)
    assert "cannot unmarshal" not in out
    exit_line = next(line for line in lines if " /tasks/exit " in line and id in line)
    body = json.loads(exit_line.split(" /tasks/exit ", 1)[1])
    assert body["container_id"] == id and body["id"] == id and body["pid"] > 0
    assert any(" /tasks/start " in line and f'"container_id":"{id}"' in line for line in lines)


def test_ctr_import_unpacks_through_the_diff_service(stack: Stack, tmp_path: Path) -> None:
    archive = tmp_path / "busybox.tar"
    assert stack.cli("save", "-o", str(archive), "busybox").returncode == 0
    ns = f"ctr{uuid.uuid4().hex[:6]}"
    imported = ctr(stack, "images", "import", str(archive), ns=ns)
    assert imported.returncode == 0, imported.stderr
    assert "done" in imported.stdout  # ctr unpacked it: Diff/Apply onto a new snapshot
    chain = [r[0] for r in rows(ctr(stack, "snapshots", "ls", ns=ns).stdout)]
    assert len(chain) == 1 and chain[0].startswith("sha256:")
    id = f"ctr-{uuid.uuid4().hex[:6]}"
    out = ctr(stack, "run", "--rm", *run_args(stack, id), IMAGE, id, "ls", "/bin/busybox",
              ns=ns)
    assert out.returncode == 0 and out.stdout.strip() == "/bin/busybox", out.stderr


def test_ctr_snapshots_diff_writes_a_layer(stack: Stack, tmp_path: Path) -> None:
    chain = next(r[0] for r in rows(ctr(stack, "snapshots", "ls").stdout)
                 if r[0].startswith("sha256:"))
    key = f"diff-{uuid.uuid4().hex[:6]}"
    assert ctr(stack, "snapshots", "prepare", key, chain).returncode == 0
    try:
        line = ctr(stack, "snapshots", "mounts", "/x", key).stdout.split()
        opts = line[line.index("-o") + 1].split(",")
        with temp_mount(str(stack.base), [Mount("overlay", "overlay", opts)]) as root:
            Path(root, "etc", "added").write_text("new\n")
            os.unlink(os.path.join(root, "bin", "vi"))
        out = subprocess.run(["ctr", "--address", str(stack.containerd_socket), "-n", "moby",
                              "snapshots", "diff", key], capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        layer = tmp_path / "layer.tar.gz"
        layer.write_bytes(out.stdout)
        with tarfile.open(layer) as tf:
            members = {m.name: m for m in tf.getmembers()}
            assert {"etc", "etc/added", "bin", "bin/.wh.vi"} <= set(members)
            added = tf.extractfile(members["etc/added"])
            assert added is not None and added.read() == b"new\n"
        # the blob is in the content store, labelled with its diff ID as upstream does
        digest = "sha256:" + hashlib.sha256(out.stdout).hexdigest()
        with gzip.open(layer) as raw:
            diff_id = "sha256:" + hashlib.sha256(raw.read()).hexdigest()
        blob = [r for r in rows(ctr(stack, "content", "ls").stdout) if r[0] == digest]
        assert blob and f"containerd.io/uncompressed={diff_id}" in blob[0][-1]
    finally:
        ctr(stack, "snapshots", "rm", key)
