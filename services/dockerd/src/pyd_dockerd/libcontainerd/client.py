"""The one module that talks to pyd-containerd (moby's libcontainerd)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyd_proto import dial
from pyd_proto.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from pyd_proto.containerd.services.content.v1 import content_pb2, content_pb2_grpc
from pyd_proto.containerd.services.events.v1 import events_pb2, events_pb2_grpc
from pyd_proto.containerd.services.images.v1 import images_pb2, images_pb2_grpc
from pyd_proto.containerd.services.snapshots.v1 import snapshots_pb2, snapshots_pb2_grpc
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from pyd_proto.containerd.services.version.v1 import version_pb2_grpc
from pyd_proto.containerd.types import mount_pb2
from pyd_proto.containerd.types.event_pb2 import Envelope
from pyd_proto.errdefs import from_rpc_error
from pyd_proto.pyd.containerd.v1 import transfer_pb2, transfer_pb2_grpc

log = logging.getLogger("pyd.dockerd.libcontainerd")

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
SNAPSHOTTER = "overlayfs"

NAMESPACE = "moby"  # dockerd's namespace inside containerd, as upstream
NAMESPACE_KEY = "containerd-namespace"


@dataclass(frozen=True)
class TaskExit:
    exit_status: int
    exited_at: datetime | None


def _ts(ts: Any) -> datetime | None:
    return ts.ToDatetime() if ts.seconds or ts.nanos else None


def health_check(address: str, timeout: float = 1.0) -> bool:
    """True when the daemon at `address` reports SERVING."""
    ch = dial.channel(address)
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                    timeout=timeout)
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
    finally:
        ch.close()


class ContainerdClient:
    """Typed calls to containerd; gRPC errors come back as `pyd_proto.errdefs` errors."""

    def __init__(self, address: str, namespace: str = NAMESPACE) -> None:
        self.address = address
        self.namespace = namespace
        self._channel: grpc.Channel | None = None
        self._lock = threading.Lock()

    @property
    def channel(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                self._channel = dial.channel(self.address)
            return self._channel

    def _md(self) -> tuple[tuple[str, str | bytes], ...]:
        return ((NAMESPACE_KEY, self.namespace),)

    def _call(self, fn: Any, request: Any, timeout: float | None = 30.0) -> Any:
        try:
            return fn(request, metadata=self._md(), timeout=timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    # -- containers ---------------------------------------------------------------

    def create_container(self, id: str, image: str, spec: dict[str, Any], snapshot_key: str,
                         runtime: str = "io.containerd.runc.v2",
                         labels: dict[str, str] | None = None) -> None:
        """Record the container in containerd (its OCI spec travels as JSON in an Any)."""
        c = containers_pb2.Container(
            id=id, image=image, labels=labels or {}, snapshotter=SNAPSHOTTER,
            snapshot_key=snapshot_key, spec=any_pb2.Any(type_url=SPEC_TYPE_URL,
                                                        value=json.dumps(spec).encode()))
        c.runtime.name = runtime
        self._call(self._containers.Create, containers_pb2.CreateContainerRequest(container=c))

    def container_spec(self, id: str) -> dict[str, Any]:
        """The OCI spec recorded for the container."""
        resp = self._call(self._containers.Get, containers_pb2.GetContainerRequest(id=id))
        spec: dict[str, Any] = json.loads(resp.container.spec.value or b"{}")
        return spec

    def delete_container(self, id: str) -> None:
        self._call(self._containers.Delete, containers_pb2.DeleteContainerRequest(id=id))

    def list_containers(self) -> list[containers_pb2.Container]:
        resp = self._call(self._containers.List, containers_pb2.ListContainersRequest())
        return list(resp.containers)

    # -- images and content ---------------------------------------------------------

    def list_images(self) -> list[images_pb2.Image]:
        return list(self._call(self._images.List, images_pb2.ListImagesRequest()).images)

    def get_image(self, name: str) -> images_pb2.Image:
        resp: images_pb2.GetImageResponse = self._call(
            self._images.Get, images_pb2.GetImageRequest(name=name))
        return resp.image

    def create_image(self, image: images_pb2.Image) -> images_pb2.Image:
        resp: images_pb2.CreateImageResponse = self._call(
            self._images.Create, images_pb2.CreateImageRequest(image=image))
        return resp.image

    def delete_image(self, name: str) -> None:
        self._call(self._images.Delete, images_pb2.DeleteImageRequest(name=name, sync=True))

    def read_blob(self, digest: str) -> bytes:
        """A whole blob from the content store (manifests and configs: small)."""
        try:
            chunks = content_pb2_grpc.ContentStub(self.channel).Read(
                content_pb2.ReadContentRequest(digest=digest), metadata=self._md(), timeout=60)
            return b"".join(c.data for c in chunks)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def import_archive(self, chunks: Iterator[bytes], *, kind: str = "", name: str = "",
                       config_json: bytes = b"") -> list[images_pb2.Image]:
        """Stream an image archive (docker save, OCI layout, or a rootfs tar with `name`)
        into containerd, which stores, unpacks and records it in one go."""
        def requests() -> Iterator[transfer_pb2.ImportRequest]:
            yield transfer_pb2.ImportRequest(options=transfer_pb2.ImportOptions(
                kind=kind, name=name, config_json=config_json, snapshotter=SNAPSHOTTER))
            for chunk in chunks:
                yield transfer_pb2.ImportRequest(data=chunk)

        try:
            resp = transfer_pb2_grpc.TransferStub(self.channel).Import(
                requests(), metadata=self._md(), timeout=600)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return list(resp.images)

    def pull(self, ref: str, *, plain_http: bool = False,
             username: str = "", password: str = "") -> Iterator[transfer_pb2.PullProgress]:
        """Pull `ref` (normalized) from its registry; progress, the last carries the image."""
        try:
            yield from transfer_pb2_grpc.TransferStub(self.channel).Pull(
                transfer_pb2.PullRequest(ref=ref, plain_http=plain_http, username=username,
                                         password=password, snapshotter=SNAPSHOTTER),
                metadata=self._md(), timeout=1800)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def export(self, names: list[str]) -> Iterator[bytes]:
        """A docker-save/OCI archive of the named images, in chunks."""
        try:
            for chunk in transfer_pb2_grpc.TransferStub(self.channel).Export(
                    transfer_pb2.ExportRequest(names=names), metadata=self._md(), timeout=1800):
                yield chunk.data
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    # -- snapshots ----------------------------------------------------------------

    def prepare_snapshot(self, key: str, parent: str) -> list[mount_pb2.Mount]:
        """An active snapshot on top of the image's chain; returns its mounts."""
        resp = self._call(self._snapshots.Prepare, snapshots_pb2.PrepareSnapshotRequest(
            snapshotter=SNAPSHOTTER, key=key, parent=parent))
        return list(resp.mounts)

    def snapshot_mounts(self, key: str) -> list[mount_pb2.Mount]:
        resp = self._call(self._snapshots.Mounts, snapshots_pb2.MountsRequest(
            snapshotter=SNAPSHOTTER, key=key))
        return list(resp.mounts)

    def remove_snapshot(self, key: str) -> None:
        self._call(self._snapshots.Remove, snapshots_pb2.RemoveSnapshotRequest(
            snapshotter=SNAPSHOTTER, key=key))

    # -- tasks ----------------------------------------------------------------------

    def create_task(self, id: str, *, stdout: str = "", stderr: str = "", stdin: str = "",
                    terminal: bool = False, rootfs: list[mount_pb2.Mount] | None = None,
                    checkpoint_dir: str = "", lazy_restore: str = "",
                    lazy_restore_tls: tuple[str, str, str] | None = None) -> int:
        """Create (or, with a checkpoint or lazy_restore, restore) the task; returns its pid.
        `lazy_restore_tls` = (CA, certificate, key): the page server speaks TLS."""
        if lazy_restore:
            log.info("create task", extra={"id": id, "lazy_restore": lazy_restore,
                                           "tls": lazy_restore_tls is not None})
        ca, cert, key = lazy_restore_tls or ("", "", "")
        resp = self._call(self._tasks.Create, tasks_pb2.CreateTaskRequest(
            container_id=id, rootfs=rootfs or [], stdin=stdin, stdout=stdout, stderr=stderr,
            terminal=terminal, checkpoint_dir=checkpoint_dir, lazy_restore=lazy_restore,
            lazy_restore_tls_cacert=ca, lazy_restore_tls_cert=cert, lazy_restore_tls_key=key),
            timeout=120.0)
        return int(resp.pid)

    def start_task(self, id: str, exec_id: str = "") -> int:
        resp = self._call(self._tasks.Start, tasks_pb2.StartRequest(container_id=id,
                                                                      exec_id=exec_id))
        return int(resp.pid)

    def kill_task(self, id: str, signal: int, *, all: bool = False, exec_id: str = "") -> None:
        self._call(self._tasks.Kill, tasks_pb2.KillRequest(container_id=id, signal=signal,
                                                             all=all, exec_id=exec_id))

    def delete_task(self, id: str) -> TaskExit:
        resp = self._call(self._tasks.Delete, tasks_pb2.DeleteTaskRequest(container_id=id))
        return TaskExit(int(resp.exit_status), _ts(resp.exited_at))

    def wait_task(self, id: str, exec_id: str = "", timeout: float | None = None) -> TaskExit:
        resp = self._call(self._tasks.Wait, tasks_pb2.WaitRequest(container_id=id,
                                                                    exec_id=exec_id),
                          timeout=timeout)
        return TaskExit(int(resp.exit_status), _ts(resp.exited_at))

    def exec_process(self, id: str, exec_id: str, process: dict[str, Any], *,
                     stdin: str = "", stdout: str = "", stderr: str = "",
                     terminal: bool = False) -> None:
        """Add process `exec_id` (an OCI Process) to the running task; Start runs it."""
        self._call(self._tasks.Exec, tasks_pb2.ExecProcessRequest(
            container_id=id, exec_id=exec_id, stdin=stdin, stdout=stdout, stderr=stderr,
            terminal=terminal, spec=any_pb2.Any(
                type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                value=json.dumps(process).encode())))

    def delete_process(self, id: str, exec_id: str) -> TaskExit:
        resp = self._call(self._tasks.DeleteProcess, tasks_pb2.DeleteProcessRequest(
            container_id=id, exec_id=exec_id))
        return TaskExit(int(resp.exit_status), _ts(resp.exited_at))

    def resize_pty(self, id: str, width: int, height: int, exec_id: str = "") -> None:
        self._call(self._tasks.ResizePty, tasks_pb2.ResizePtyRequest(
            container_id=id, exec_id=exec_id, width=width, height=height))

    def close_stdin(self, id: str, exec_id: str = "") -> None:
        self._call(self._tasks.CloseIO, tasks_pb2.CloseIORequest(
            container_id=id, exec_id=exec_id, stdin=True))

    def get_task(self, id: str) -> Any:
        return self._call(self._tasks.Get, tasks_pb2.GetRequest(container_id=id)).process

    def list_tasks(self) -> list[Any]:
        return list(self._call(self._tasks.List, tasks_pb2.ListTasksRequest()).tasks)

    def task_pids(self, id: str) -> list[int]:
        resp = self._call(self._tasks.ListPids, tasks_pb2.ListPidsRequest(container_id=id))
        return [int(p.pid) for p in resp.processes]

    def update_task(self, id: str, resources: dict[str, Any]) -> None:
        """New cgroup limits for the running task (OCI LinuxResources as JSON)."""
        self._call(self._tasks.Update, tasks_pb2.UpdateTaskRequest(
            container_id=id, resources=any_pb2.Any(
                type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                value=json.dumps(resources).encode())))

    def pause_task(self, id: str) -> None:
        self._call(self._tasks.Pause, tasks_pb2.PauseTaskRequest(container_id=id))

    def resume_task(self, id: str) -> None:
        self._call(self._tasks.Resume, tasks_pb2.ResumeTaskRequest(container_id=id))

    def checkpoint_task(self, id: str, image_path: str, *, leave_running: bool = False,
                        lazy: bool = False, page_server: str = "") -> None:
        self._call(self._tasks.Checkpoint, tasks_pb2.CheckpointTaskRequest(
            container_id=id, image_path=image_path, leave_running=leave_running, lazy=lazy,
            page_server=page_server), timeout=300.0)

    # -- events ---------------------------------------------------------------------

    def subscribe(self, *filters: str) -> Iterator[Envelope]:
        """containerd's event stream (e.g. `topic~="/tasks/"`), until the channel closes."""
        stream = events_pb2_grpc.EventsStub(self.channel).Subscribe(
            events_pb2.SubscribeRequest(filters=list(filters)), metadata=self._md())
        try:
            yield from stream
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(e) from None

    @property
    def _containers(self) -> Any:
        return containers_pb2_grpc.ContainersStub(self.channel)

    @property
    def _images(self) -> Any:
        return images_pb2_grpc.ImagesStub(self.channel)

    @property
    def _snapshots(self) -> Any:
        return snapshots_pb2_grpc.SnapshotsStub(self.channel)

    @property
    def _tasks(self) -> Any:
        return tasks_pb2_grpc.TasksStub(self.channel)

    def version(self) -> tuple[str, str]:
        """containerd's (version, revision)."""
        resp = self._call(version_pb2_grpc.VersionStub(self.channel).Version, empty_pb2.Empty(),
                          timeout=5.0)
        return resp.version, resp.revision

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
