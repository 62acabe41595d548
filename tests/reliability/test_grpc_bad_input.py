"""Bad input at the gRPC layer of pyd-dockerd and pyd-containerd, sent by a Python gRPC
client (and grpcurl): bytes that do not parse, fields of the wrong wire type, invalid
UTF-8, a message beyond the transport limit, 10 MB strings, NUL bytes, and path
traversal (`../../etc`, `/`, absolute paths) in the names and ids of containers,
images, volumes, networks, checkpoints, exec processes, snapshots, content and
namespaces, and in archives copied into a container.

Each is refused — INVALID_ARGUMENT, or NOT_FOUND where that is Docker's answer to a
lookup — the daemons stay up (same pids, still serving), and nothing named by the
payloads appears outside the stack's roots (/tmp, /run and /etc searched, /etc
compared before and after).
"""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from pyd_proto import dial
from pyd_proto.containerd.services.containers.v1 import containers_pb2 as cd_containers
from pyd_proto.containerd.services.containers.v1 import containers_pb2_grpc as cd_containers_grpc
from pyd_proto.containerd.services.content.v1 import content_pb2, content_pb2_grpc
from pyd_proto.containerd.services.namespaces.v1 import namespace_pb2, namespace_pb2_grpc
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2, snapshots_pb2_grpc
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from pyd_proto.pyd.dockerd.v1 import (
    checkpoints_pb2,
    checkpoints_pb2_grpc,
    containers_pb2,
    containers_pb2_grpc,
    images_pb2,
    images_pb2_grpc,
    networks_pb2,
    networks_pb2_grpc,
    types_pb2,
    volumes_pb2,
    volumes_pb2_grpc,
)
from tests.stack import VENV_BIN, Stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

TOKEN = f"pyd-pwned-{uuid.uuid4().hex[:10]}"
HUGE = "x" * (10 << 20)
# Names a traversal would turn into a file outside pyd's roots carry TOKEN.
TRAVERSAL = [
    f"../../../../../../../../tmp/{TOKEN}",
    f"../../etc/{TOKEN}",
    f"/tmp/{TOKEN}",
    "/",
    "..",
    "../../etc",
]
BAD_NAMES = [*TRAVERSAL, f"a\0{TOKEN}", HUGE]
LOOKUP = {"INVALID_ARGUMENT", "NOT_FOUND"}
INVALID = {"INVALID_ARGUMENT"}
MOBY = (("containerd-namespace", "moby"),)


def code_of(call: Callable[[], Any]) -> str:
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except grpc.RpcError as e:
        return str(e.code().name)  # type: ignore[attr-defined]
    return "OK"


def token_files(roots: list[str]) -> list[str]:
    """Paths under `roots` whose name holds TOKEN (no symlinks followed)."""
    found = []
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not (dirpath == "/run" and d in ("netns",))]
            found += [os.path.join(dirpath, n) for n in dirs + files if TOKEN in n]
    return found


def tree(root: str) -> dict[str, tuple[int, float, int]]:
    """Size, mtime and link count of everything under `root` (a hard link made to a
    file raises its count)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[p] = (st.st_size, st.st_mtime, st.st_nlink)
    return out


def rpc(method: Callable[..., Any], request: Any, **kw: Any) -> Callable[[], Any]:
    return functools.partial(method, request, timeout=120, **kw)


def raw_call(channel: grpc.Channel, method: str, payload: bytes) -> Callable[[], Any]:
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    return lambda: call(payload, timeout=60, metadata=MOBY)


def tar_of(*members: tuple[str, str | bytes]) -> bytes:
    """A tar holding files (bytes) and symlinks (str targets), in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in members:
            info = tarfile.TarInfo(name)
            if isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def tar_of_link(name: str, target: str) -> bytes:
    """A tar holding one hard link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.LNKTYPE, target
        tar.addfile(info)
    return buf.getvalue()


def copy_to(
    stub: containers_pb2_grpc.ContainersStub, cid: str, path: str, data: bytes
) -> Callable[[], Any]:
    def requests() -> Iterator[containers_pb2.CopyToRequest]:
        yield containers_pb2.CopyToRequest(header=containers_pb2.CopyToHeader(id=cid, path=path))
        yield containers_pb2.CopyToRequest(chunk=data)

    return lambda: stub.CopyTo(requests(), timeout=60)


def content_write(stub: content_pb2_grpc.ContentStub, ref: str) -> Callable[[], Any]:
    def requests() -> Iterator[content_pb2.WriteContentRequest]:
        yield content_pb2.WriteContentRequest(action=content_pb2.WriteAction.STAT, ref=ref)

    return lambda: stub.Write(requests(), timeout=60, metadata=MOBY)


def test_bad_input_is_refused_and_writes_nothing_outside_the_roots(stack: Stack) -> None:
    s = stack
    run = s.cli("run", "-d", "--name", "target", "busybox", "sleep", "3600", check=True)
    cid = run.stdout.strip()
    s.cli("create", "--name", "stopped", "busybox", "true", check=True)
    stopped = s.cli("inspect", "--format", "{{.Id}}", "stopped", check=True).stdout.strip()
    etc_before = tree("/etc")
    dockerd_pid, containerd_pid = s.dockerd.pid if s.dockerd else 0, s.containerd_pid()

    ch, cch = dial.channel(str(s.socket)), dial.channel(str(s.containerd_socket))
    containers = containers_pb2_grpc.ContainersStub(ch)
    volumes = volumes_pb2_grpc.VolumesStub(ch)
    networks = networks_pb2_grpc.NetworksStub(ch)
    images = images_pb2_grpc.ImagesStub(ch)
    checkpoints = checkpoints_pb2_grpc.CheckpointsStub(ch)
    cd = cd_containers_grpc.ContainersStub(cch)
    snaps = snapshots_pb2_grpc.SnapshotsStub(cch)
    content = content_pb2_grpc.ContentStub(cch)
    namespaces = namespace_pb2_grpc.NamespacesStub(cch)
    tasks = tasks_pb2_grpc.TasksStub(cch)
    config = types_pb2.Config(image="busybox", cmd=["true"])

    cases: list[tuple[str, Callable[[], Any], set[str]]] = []
    for bad in BAD_NAMES:
        b = bad
        short = repr(bad[:40])
        cases += [
            (
                f"dockerd Containers.Create name={short}",
                rpc(
                    containers.Create, containers_pb2.CreateContainerRequest(name=b, config=config)
                ),
                INVALID,
            ),
            (
                f"dockerd Containers.Create image={short}",
                rpc(
                    containers.Create,
                    containers_pb2.CreateContainerRequest(
                        config=types_pb2.Config(image=b, cmd=["true"])
                    ),
                ),
                LOOKUP,
            ),
            (
                f"dockerd Containers.Inspect {short}",
                rpc(containers.Inspect, containers_pb2.InspectContainerRequest(id=b)),
                LOOKUP,
            ),
            (
                f"dockerd Containers.Remove {short}",
                rpc(containers.Remove, containers_pb2.RemoveContainerRequest(id=b, force=True)),
                LOOKUP,
            ),
            (
                f"dockerd Containers.Rename to {short}",
                rpc(
                    containers.Rename,
                    containers_pb2.RenameContainerRequest(id="stopped", new_name=b),
                ),
                INVALID,
            ),
            (
                f"dockerd Containers.ExecCreate in {short}",
                rpc(
                    containers.ExecCreate,
                    containers_pb2.ExecCreateRequest(container=b, cmd=["true"]),
                ),
                LOOKUP,
            ),
            (
                f"dockerd Volumes.Create {short}",
                rpc(volumes.Create, volumes_pb2.CreateVolumeRequest(name=b)),
                INVALID,
            ),
            (
                f"dockerd Volumes.Remove {short}",
                rpc(volumes.Remove, volumes_pb2.RemoveVolumeRequest(name=b)),
                LOOKUP,
            ),
            (
                f"dockerd Networks.Create {short}",
                rpc(networks.Create, networks_pb2.CreateNetworkRequest(name=b)),
                INVALID,
            ),
            (
                f"dockerd Networks.Remove {short}",
                rpc(networks.Remove, networks_pb2.RemoveNetworkRequest(id=b)),
                LOOKUP,
            ),
            (
                f"dockerd Images.Inspect {short}",
                rpc(images.Inspect, images_pb2.InspectImageRequest(name=b)),
                LOOKUP,
            ),
            (
                f"dockerd Images.Tag repo={short}",
                rpc(images.Tag, images_pb2.TagImageRequest(source="busybox", repo=b)),
                INVALID,
            ),
            (
                f"dockerd Checkpoints.Create id={short}",
                rpc(
                    checkpoints.Create,
                    checkpoints_pb2.CreateCheckpointRequest(container="target", checkpoint_id=b),
                ),
                INVALID,
            ),
            (
                f"dockerd Checkpoints.Remove {short}",
                rpc(
                    checkpoints.Remove,
                    checkpoints_pb2.RemoveCheckpointRequest(container="target", checkpoint_id=b),
                ),
                LOOKUP,
            ),
            (
                f"containerd Containers.Create {short}",
                rpc(
                    cd.Create,
                    cd_containers.CreateContainerRequest(
                        container=cd_containers.Container(
                            id=b,
                            runtime=cd_containers.Container.Runtime(name="io.containerd.runc.v2"),
                        )
                    ),
                    metadata=MOBY,
                ),
                INVALID,
            ),
            (
                f"containerd Containers.Get {short}",
                rpc(cd.Get, cd_containers.GetContainerRequest(id=b), metadata=MOBY),
                LOOKUP,
            ),
            (
                f"containerd Namespaces.Create {short}",
                rpc(
                    namespaces.Create,
                    namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=b)),
                ),
                INVALID,
            ),
            (
                f"containerd Namespaces.Get {short}",
                rpc(namespaces.Get, namespace_pb2.GetNamespaceRequest(name=b)),
                LOOKUP,
            ),
            (
                f"containerd Snapshots.Stat {short}",
                rpc(
                    snaps.Stat,
                    snapshots_pb2.StatSnapshotRequest(snapshotter="overlayfs", key=b),
                    metadata=MOBY,
                ),
                LOOKUP,
            ),
            (
                f"containerd Snapshots.Prepare parent={short}",
                rpc(
                    snaps.Prepare,
                    snapshots_pb2.PrepareSnapshotRequest(
                        snapshotter="overlayfs", key="k-" + TOKEN, parent=b
                    ),
                    metadata=MOBY,
                ),
                LOOKUP,
            ),
            (
                f"containerd Content.Info {short}",
                rpc(content.Info, content_pb2.InfoRequest(digest=b), metadata=MOBY),
                INVALID,
            ),
            (
                f"containerd Content.Delete {short}",
                rpc(content.Delete, content_pb2.DeleteContentRequest(digest=b), metadata=MOBY),
                INVALID,
            ),
            (
                f"containerd Tasks.Exec exec_id={short}",
                rpc(
                    tasks.Exec,
                    tasks_pb2.ExecProcessRequest(container_id=cid, exec_id=b),
                    metadata=MOBY,
                ),
                INVALID,
            ),
        ]
        if not b.startswith("/"):  # an absolute checkpoint dir is the user's choice in Docker
            cases.append(
                (
                    f"dockerd Checkpoints.Create dir={short}",
                    rpc(
                        checkpoints.Create,
                        checkpoints_pb2.CreateCheckpointRequest(
                            container="target", checkpoint_id="cp1", checkpoint_dir=b
                        ),
                    ),
                    INVALID,
                )
            )
        if "\0" not in b and len(b) < 4096:  # gRPC refuses such metadata client-side
            cases.append(
                (
                    f"containerd namespace header {short}",
                    rpc(
                        cd.List,
                        cd_containers.ListContainersRequest(),
                        metadata=(("containerd-namespace", b),),
                    ),
                    INVALID,
                )
            )
    for bad in ("a\0b", HUGE):
        b = bad
        short = repr(bad[:20])
        cases += [
            (
                f"containerd Snapshots.Prepare key={short}",
                rpc(
                    snaps.Prepare,
                    snapshots_pb2.PrepareSnapshotRequest(snapshotter="overlayfs", key=b),
                    metadata=MOBY,
                ),
                INVALID,
            ),
            (f"containerd Content.Write ref={short}", content_write(content, b), INVALID),
            (
                f"dockerd Containers.Create cmd={short}",
                rpc(
                    containers.Create,
                    containers_pb2.CreateContainerRequest(
                        config=types_pb2.Config(image="busybox", cmd=["echo", b])
                    ),
                ),
                INVALID,
            ),
        ]
    # Snapshot keys are free-form upstream (never path parts): accepted, and kept inside.
    for key in TRAVERSAL[:3]:
        k = key
        cases.append(
            (
                f"containerd Snapshots.Prepare key={k!r}",
                rpc(
                    snaps.Prepare,
                    snapshots_pb2.PrepareSnapshotRequest(snapshotter="overlayfs", key=k),
                    metadata=MOBY,
                ),
                {"OK"},
            )
        )
        cases.append((f"containerd Content.Write ref={k!r}", content_write(content, k), {"OK"}))
    # Archives copied into a container resolve inside it, symlinks included.
    for target, what in ((cid, "running"), (stopped, "stopped")):
        cases += [
            (
                f"dockerd CopyTo {what} path=../../tmp",
                copy_to(containers, target, "/../../../../tmp", tar_of((TOKEN, b"x"))),
                {"OK"},
            ),
            (
                f"dockerd CopyTo {what} member ../",
                copy_to(containers, target, "/tmp", tar_of((f"../../../../{TOKEN}", b"x"))),
                INVALID,
            ),
            (
                f"dockerd CopyTo {what} via absolute symlink",
                copy_to(
                    containers,
                    target,
                    "/",
                    tar_of((f"lnk-{what}", "/tmp"), (f"lnk-{what}/{TOKEN}-via-link", b"x")),
                ),
                {"OK", "INVALID_ARGUMENT"},
            ),
            (
                f"dockerd CopyTo {what} hard link to ../../etc/hostname",
                copy_to(
                    containers,
                    target,
                    "/tmp",
                    tar_of_link(f"hl-{what}", "../../../../../../etc/hostname"),
                ),
                {"OK", "INVALID_ARGUMENT", "NOT_FOUND"},
            ),
            (
                f"dockerd CopyTo {what} via relative symlink",
                copy_to(
                    containers,
                    target,
                    "/",
                    tar_of(
                        (f"up-{what}", "../../../../../../../../tmp"),
                        (f"up-{what}/{TOKEN}-via-up", b"x"),
                    ),
                ),
                {"OK", "INVALID_ARGUMENT"},
            ),
        ]
    # Bytes that are not the request, a field of the wrong wire type, bad UTF-8.
    for method in (
        "/pyd.dockerd.v1.Volumes/Create",
        "/pyd.dockerd.v1.Containers/Inspect",
        "/containerd.services.containers.v1.Containers/Get",
        "/containerd.services.namespaces.v1.Namespaces/Create",
    ):
        cases += [
            (
                f"{method} garbage bytes",
                raw_call(ch if "pyd." in method else cch, method, b"\xff\xff\xff\xff"),
                INVALID,
            ),
            (
                f"{method} field 1 as varint",
                raw_call(ch if "pyd." in method else cch, method, b"\x08\x05"),
                INVALID,
            ),
            (
                f"{method} bad UTF-8",
                raw_call(ch if "pyd." in method else cch, method, b"\x0a\x03\xff\xfe\xfd"),
                INVALID,
            ),
        ]
    # Beyond the 64 MiB transport limit gRPC itself answers, with its own code.
    cases.append(
        (
            "dockerd 65 MiB message",
            rpc(
                volumes.Create,
                volumes_pb2.CreateVolumeRequest(name="big", labels={"l": "x" * (65 << 20)}),
            ),
            {"RESOURCE_EXHAUSTED"},
        )
    )

    wrong = []
    for label, call, want in cases:
        got = code_of(call)
        if got not in want:
            wrong.append(f"{label}: {got}, want {sorted(want)}")
    # grpcurl, as an operator would type it.
    grpcurl = str(VENV_BIN / "grpcurl")
    out = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-unix",
            "-d",
            json.dumps({"name": f"../../tmp/{TOKEN}"}),
            str(s.socket),
            "pyd.dockerd.v1.Volumes/Create",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "InvalidArgument" not in out.stdout + out.stderr:
        wrong.append(f"grpcurl Volumes/Create traversal: {out.stdout}{out.stderr}")

    assert wrong == []
    # Still up, the same processes, still serving.
    assert s.dockerd is not None and s.dockerd.poll() is None and s.dockerd.pid == dockerd_pid
    assert s.containerd_pid() == containerd_pid and s.ping()
    assert s.cli("ps", "-q", check=True).stdout.strip() == cid[:12]
    # The copies landed inside the containers.
    assert s.cli("exec", "target", "ls", f"/tmp/{TOKEN}").returncode == 0
    # Nothing outside the stack's roots.
    # (Other stacks on this host may show ours through their mounts: a path naming our
    # base is inside our roots, wherever it is seen from.)
    outside = [p for p in token_files(["/tmp", "/run", "/etc"]) if str(s.base) not in p]
    assert outside == []
    assert tree("/etc") == etc_before
    ch.close()
    cch.close()
