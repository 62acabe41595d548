"""Tasks: a container's running process, through its shim (containerd's services/tasks/local.go).

`TaskManager` is the core the Tasks servicer wraps: plain calls taking a
namespace and upstream request messages, raising typed errors. It keeps the
live tasks in memory; the truth about each is its shim, and after containerd
restarts the shim manager finds them again. A task whose shim died stays
listed as stopped, with the exit the shim left behind, until it is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from google.protobuf import any_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from pyd_containerd.metadata import filters
from pyd_containerd.metadata.containers import Container
from pyd_containerd.runtime.shim_manager import Exit, Shim, ShimManager
from pyd_proto.containerd.events import task_pb2 as events
from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as shim
from pyd_proto.containerd.services.tasks.v1 import tasks_pb2 as pb
from pyd_proto.containerd.types import metrics_pb2, mount_pb2
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_proto.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PydError,
    Unavailable,
    Unimplemented,
)
from pyd_shim.task_service import runc_options

log = logging.getLogger("pyd.containerd.tasks")


class Publisher(Protocol):
    def publish(self, namespace: str, topic: str, event: Message) -> None: ...


class Snapshotter(Protocol):
    def mounts(self, namespace: str, key: str) -> Sequence[Any]: ...


def _timestamp(at: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return ts


def runtime_options(value: any_pb2.Any | None) -> dict[str, Any]:
    """binary_name/root/systemd_cgroup/criu_path from a container's `runtime.options`.

    Accepted: upstream's `containerd.runc.v1.Options` (fields 6 binary_name,
    7 root, 8 criu_path, 9 systemd_cgroup), a `google.protobuf.Struct`, or a JSON
    object in the Any's value.
    """
    if value is None or not value.value:
        return {}
    url = value.type_url
    if url.endswith("google.protobuf.Struct"):
        data = struct_pb2.Struct()
        data.ParseFromString(value.value)  # bare or prefixed type URL alike
        return {k: v for k, v in data.items()}
    if url.endswith(("containerd.runc.v1.Options", "runtimeoptions.v1.Options")):
        return runc_options(value)
    try:
        data = json.loads(value.value)
    except ValueError as e:
        raise InvalidArgument(f"runtime options of type {url!r}: not understood") from e
    return data if isinstance(data, dict) else {}


class Task:
    """One container's task: its shim while that lives, its exit once the shim died."""

    def __init__(self, namespace: str, id: str, bundle: str, shim: Shim | None) -> None:
        self.namespace = namespace
        self.id = id
        self.bundle = bundle
        self.shim = shim
        self.dead: Exit | None = None
        self.dead_event = threading.Event()

    def live_shim(self) -> Shim:
        if self.shim is None or self.dead is not None:
            raise FailedPrecondition(f"task {self.id}: its shim is gone (task stopped)")
        return self.shim


class TaskManager:
    def __init__(self, shims: ShimManager, containers: Callable[[str, str], Container],
                 snapshotters: Mapping[str, Snapshotter], publisher: Publisher, *,
                 runtime_binary: str = "pyd-runc", runtime_root: str = "",
                 debug: bool = False) -> None:
        self.shims = shims
        self.containers = containers
        self.snapshotters = snapshotters
        self.publisher = publisher
        self.runtime_binary = runtime_binary
        self.runtime_root = runtime_root
        self.debug = debug
        self._lock = threading.RLock()
        self._tasks: dict[tuple[str, str], Task] = {}
        self._creating: set[tuple[str, str]] = set()
        shims.on_dead = self._shim_died

    # -- start-up ---------------------------------------------------------------------

    def load(self) -> None:
        """Rebuild the task list from the shims still running; clean up after dead ones,
        and take down the tasks whose container record is gone (upstream's loadShims)."""
        live, dead = self.shims.load()
        orphans = [s for s in live if not self._has_container(s.namespace, s.id)]
        live = [s for s in live if s not in orphans]
        for s in orphans:
            log.warning("task of a deleted container: cleaning up",
                        extra={"namespace": s.namespace, "id": s.id})
            self._discard(s.namespace, s.id, s.bundle, s)
        for ns, id, bundle in [d for d in dead if not self._has_container(d[0], d[1])]:
            log.warning("dead task of a deleted container: cleaning up",
                        extra={"namespace": ns, "id": id})
            self._discard(ns, id, bundle, None)
            dead.remove((ns, id, bundle))
        with self._lock:
            for s in live:
                self._tasks[(s.namespace, s.id)] = Task(s.namespace, s.id, s.bundle, s)
            for ns, id, bundle in dead:
                task = Task(ns, id, bundle, None)
                self._tasks[(ns, id)] = task
        for ns, id, bundle in dead:
            exit = self.shims.cleanup(ns, id, bundle)
            task = self._tasks[(ns, id)]
            task.dead = exit
            task.dead_event.set()
            log.info("task of a dead shim marked stopped", extra={
                "namespace": ns, "id": id, "exit_status": exit.status})
        log.info("tasks loaded", extra={"live": len(live), "dead": len(dead)})

    def _has_container(self, ns: str, id: str) -> bool:
        try:
            self.containers(ns, id)
        except NotFound:
            return False
        return True

    def _discard(self, ns: str, id: str, bundle: str, s: Shim | None) -> None:
        """Take down a task no client can reach any more (its container record is gone):
        the shim, what `pyd-shim delete` finds left (process, mounts), the bundle."""
        if s is not None:
            s.close()
        self.shims.kill(bundle)
        self.shims.cleanup(ns, id, bundle)
        self.shims.remove_bundle(ns, id)

    def _shim_died(self, shim: Shim) -> None:
        with self._lock:
            task = self._tasks.get((shim.namespace, shim.id))
        if task is None or task.shim is not shim or task.dead is not None:
            return  # deleted on purpose, or already handled
        exit = self.shims.cleanup(shim.namespace, shim.id, shim.bundle)
        task.dead = exit
        task.dead_event.set()
        log.warning("shim died; task stopped", extra={
            "namespace": shim.namespace, "id": shim.id, "exit_status": exit.status})
        self.publisher.publish(shim.namespace, "/tasks/exit", events.TaskExit(
            container_id=shim.id, id=shim.id, pid=exit.pid, exit_status=exit.status,
            exited_at=_timestamp(exit.at)))

    # -- lookups ----------------------------------------------------------------------

    def _get(self, ns: str, id: str) -> Task:
        with self._lock:
            task = self._tasks.get((ns, id))
        if task is None:
            raise NotFound(f"task {id}: not found")
        return task

    def _call(self, task: Task, fn: Callable[[Shim], Any]) -> Any:
        """Call the shim; if it died on the way, say the task is stopped."""
        s = task.live_shim()
        try:
            return fn(s)
        except Unavailable as e:
            if not s.alive:
                raise FailedPrecondition(f"task {task.id}: shim died ({e})") from e
            raise

    # -- Tasks ------------------------------------------------------------------------

    def create(self, ns: str, req: pb.CreateTaskRequest) -> pb.CreateTaskResponse:
        id = req.container_id
        container = self.containers(ns, id)
        key = (ns, id)
        with self._lock:
            if key in self._tasks or key in self._creating:
                raise AlreadyExists(f"task {id}: already exists")
            self._creating.add(key)
        try:
            return self._create(ns, container, req)
        finally:
            with self._lock:
                self._creating.discard(key)

    def _create(self, ns: str, container: Container,
                req: pb.CreateTaskRequest) -> pb.CreateTaskResponse:
        id = container.id
        if req.checkpoint.digest and not req.checkpoint_dir:
            raise Unimplemented("checkpoints from the content store are not supported; "
                                "pass checkpoint_dir")
        if req.lazy_restore:
            log.info("task create with lazy restore", extra={
                "namespace": ns, "id": id, "checkpoint_dir": req.checkpoint_dir,
                "lazy_restore": req.lazy_restore})
            if not req.checkpoint_dir:
                raise InvalidArgument("lazy_restore needs checkpoint_dir")
        tls = (req.lazy_restore_tls_cacert, req.lazy_restore_tls_cert, req.lazy_restore_tls_key)
        if any(tls) and not (all(tls) and req.lazy_restore):
            raise InvalidArgument("lazy_restore_tls_cacert, _cert and _key go together, "
                                  "with lazy_restore")
        if container.spec is None or not container.spec.value:
            raise FailedPrecondition(f"container {id}: has no OCI spec")
        try:
            spec = json.loads(container.spec.value)
        except ValueError as e:
            raise InvalidArgument(f"container {id}: spec is not OCI JSON: {e}") from e
        opts = {"binary_name": self.runtime_binary,
                "root": os.path.join(self.runtime_root, ns)}
        opts.update({k: v for k, v in runtime_options(container.runtime.options).items() if v})
        rootfs = list(req.rootfs)
        if not rootfs and container.snapshot_key:
            snap = self.snapshotters.get(container.snapshotter or "overlayfs")
            if snap is None:
                raise FailedPrecondition(f"snapshotter {container.snapshotter!r}: not found")
            rootfs = [mount_pb2.Mount(type=m.type, source=m.source, options=list(m.options))
                      for m in snap.mounts(ns, container.snapshot_key)]
        if rootfs:
            spec.setdefault("root", {})["path"] = "rootfs"
        bundle = self.shims.prepare_bundle(ns, id, spec, opts)
        s: Shim | None = None
        try:
            s = self.shims.start(ns, id, bundle, shim_binary=req.runtime_path,
                                 debug=self.debug)
            resp = s.call("Create", shim.CreateTaskRequest(
                id=id, bundle=bundle, rootfs=rootfs, terminal=req.terminal, stdin=req.stdin,
                stdout=req.stdout, stderr=req.stderr, checkpoint=req.checkpoint_dir,
                options=req.options if req.HasField("options") else None,
                lazy_restore=req.lazy_restore, lazy_restore_tls_cacert=tls[0],
                lazy_restore_tls_cert=tls[1], lazy_restore_tls_key=tls[2]),
                shim.CreateTaskResponse(), timeout=120)
        except BaseException:
            if s is not None:
                try:
                    s.empty("Shutdown", shim.ShutdownRequest(id=id, now=True), 5)
                except PydError:
                    self.shims.kill(bundle)  # a shim that cannot be told must not linger
                s.close()
            self.shims.remove_bundle(ns, id)
            raise
        # The container may have been deleted while its task was being made (its client
        # gone: a dockerd killed mid-start, whose successor removed the container and
        # found no task yet). Nobody could reach this task again: take it down.
        if not self._has_container(ns, id):
            log.warning("container deleted during task create: cleaning up",
                        extra={"namespace": ns, "id": id})
            self._discard(ns, id, bundle, s)
            raise NotFound(f"container {id}: deleted while its task was created")
        with self._lock:
            self._tasks[(ns, id)] = Task(ns, id, bundle, s)
        log.info("task created", extra={"namespace": ns, "id": id, "pid": resp.pid,
                                        "runtime": opts["binary_name"]})
        return pb.CreateTaskResponse(container_id=id, pid=resp.pid)

    def start(self, ns: str, req: pb.StartRequest) -> pb.StartResponse:
        task = self._get(ns, req.container_id)
        resp = self._call(task, lambda s: s.call(
            "Start", shim.StartRequest(id=task.id, exec_id=req.exec_id), shim.StartResponse(),
            120))
        return pb.StartResponse(pid=resp.pid)

    def delete(self, ns: str, req: pb.DeleteTaskRequest) -> pb.DeleteResponse:
        task = self._get(ns, req.container_id)
        if task.dead is not None:
            exit = task.dead
            out = pb.DeleteResponse(id=task.id, pid=exit.pid, exit_status=exit.status,
                                    exited_at=_timestamp(exit.at))
            self.publisher.publish(ns, "/tasks/delete", events.TaskDelete(
                container_id=task.id, id=task.id, pid=exit.pid, exit_status=exit.status,
                exited_at=out.exited_at))
        else:
            try:
                resp = self._call(task, lambda s: s.call(
                    "Delete", shim.DeleteRequest(id=task.id), shim.DeleteResponse()))
                out = pb.DeleteResponse(id=task.id, pid=resp.pid,
                                        exit_status=resp.exit_status,
                                        exited_at=resp.exited_at)
            except NotFound:
                # The shim holds no task: a containerd killed during Create left the shim,
                # and its successor reconnected to it at load. As upstream, the shim's
                # not-found does not stop the shim and bundle from being cleaned up.
                out = pb.DeleteResponse(id=task.id)
        with self._lock:
            self._tasks.pop((ns, task.id), None)
        if task.shim is not None and task.dead is None:
            with contextlib.suppress(PydError):
                task.shim.empty("Shutdown", shim.ShutdownRequest(id=task.id), 5)
            task.shim.close()
        self.shims.remove_bundle(ns, task.id)
        return out

    def delete_process(self, ns: str, req: pb.DeleteProcessRequest) -> pb.DeleteResponse:
        if not req.exec_id:
            raise InvalidArgument("exec_id is required (delete the task itself with Delete)")
        task = self._get(ns, req.container_id)
        resp = self._call(task, lambda s: s.call(
            "Delete", shim.DeleteRequest(id=task.id, exec_id=req.exec_id),
            shim.DeleteResponse()))
        return pb.DeleteResponse(id=req.exec_id, pid=resp.pid, exit_status=resp.exit_status,
                                 exited_at=resp.exited_at)

    def _settled(self, task: Task) -> None:
        """If the task's shim just died, give the cleanup a moment to record its exit."""
        if task.dead is None and task.shim is not None and not task.shim.alive:
            task.dead_event.wait(10)

    def _process(self, task: Task, exec_id: str = "") -> types.Process:
        self._settled(task)
        if task.dead is not None:
            if exec_id:
                raise NotFound(f"exec {exec_id}: not found (task stopped)")
            return types.Process(container_id=task.id, id=task.id, pid=task.dead.pid,
                                 status=types.STOPPED, exit_status=task.dead.status,
                                 exited_at=_timestamp(task.dead.at))
        try:
            st = self._call(task, lambda s: s.call(
                "State", shim.StateRequest(id=task.id, exec_id=exec_id), shim.StateResponse(),
                10))
        except PydError:
            self._settled(task)
            if task.dead is not None:
                return self._process(task, exec_id)
            raise
        return types.Process(
            container_id=task.id, id=exec_id or task.id, pid=st.pid, status=st.status,
            stdin=st.stdin, stdout=st.stdout, stderr=st.stderr, terminal=st.terminal,
            exit_status=st.exit_status,
            exited_at=st.exited_at if st.HasField("exited_at") else None)

    def get(self, ns: str, req: pb.GetRequest) -> pb.GetResponse:
        return pb.GetResponse(process=self._process(self._get(ns, req.container_id),
                                                    req.exec_id))

    def list(self, ns: str, req: pb.ListTasksRequest) -> pb.ListTasksResponse:
        """Tasks of `ns`; `filter` selects on id, pid and status (`status==running`)."""
        flt = filters.parse([req.filter] if req.filter else [])
        with self._lock:
            tasks = [t for (n, _), t in sorted(self._tasks.items()) if n == ns]
        out = []
        for t in tasks:
            try:
                p = self._process(t)
            except PydError as e:
                log.warning("task state unavailable", extra={"id": t.id, "error": str(e)})
                continue
            fields = {"id": p.id, "container_id": p.container_id, "pid": str(p.pid),
                      "status": types.Status.Name(p.status).lower()}
            if flt.match(filters.labels_getter(fields, {})):
                out.append(p)
        return pb.ListTasksResponse(tasks=out)

    def kill(self, ns: str, req: pb.KillRequest) -> None:
        task = self._get(ns, req.container_id)
        if task.dead is not None:
            raise NotFound(f"task {task.id}: process already finished")
        self._call(task, lambda s: s.empty("Kill", shim.KillRequest(
            id=task.id, exec_id=req.exec_id, signal=req.signal, all=req.all)))

    def exec(self, ns: str, req: pb.ExecProcessRequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("Exec", shim.ExecProcessRequest(
            id=task.id, exec_id=req.exec_id, terminal=req.terminal, stdin=req.stdin,
            stdout=req.stdout, stderr=req.stderr, spec=req.spec)))

    def resize_pty(self, ns: str, req: pb.ResizePtyRequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("ResizePty", shim.ResizePtyRequest(
            id=task.id, exec_id=req.exec_id, width=req.width, height=req.height)))

    def close_io(self, ns: str, req: pb.CloseIORequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("CloseIO", shim.CloseIORequest(
            id=task.id, exec_id=req.exec_id, stdin=req.stdin)))

    def pause(self, ns: str, req: pb.PauseTaskRequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("Pause", shim.PauseRequest(id=task.id)))

    def resume(self, ns: str, req: pb.ResumeTaskRequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("Resume", shim.ResumeRequest(id=task.id)))

    def list_pids(self, ns: str, req: pb.ListPidsRequest) -> pb.ListPidsResponse:
        task = self._get(ns, req.container_id)
        resp = self._call(task, lambda s: s.call("Pids", shim.PidsRequest(id=task.id),
                                                 shim.PidsResponse()))
        return pb.ListPidsResponse(processes=list(resp.processes))

    def checkpoint(self, ns: str, req: pb.CheckpointTaskRequest) -> pb.CheckpointTaskResponse:
        if not req.image_path:
            raise InvalidArgument("image_path (the checkpoint directory) is required; "
                                  "checkpoints into the content store are not supported")
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("Checkpoint", shim.CheckpointTaskRequest(
            id=task.id, path=req.image_path, leave_running=req.leave_running, lazy=req.lazy,
            page_server=req.page_server), 600))
        return pb.CheckpointTaskResponse()

    def update(self, ns: str, req: pb.UpdateTaskRequest) -> None:
        task = self._get(ns, req.container_id)
        self._call(task, lambda s: s.empty("Update", shim.UpdateTaskRequest(
            id=task.id, resources=req.resources, annotations=dict(req.annotations))))

    def metrics(self, ns: str, req: pb.MetricsRequest) -> pb.MetricsResponse:
        """Cgroup figures of running tasks; filters `id==X` pick tasks (all when none)."""
        wanted = {f.split("==", 1)[1].strip() for f in req.filters if "==" in f
                  and f.split("==", 1)[0].strip() in ("id", "container_id")}
        with self._lock:
            tasks = [t for (n, i), t in sorted(self._tasks.items())
                     if n == ns and (not wanted or i in wanted)]
        out = []
        for t in tasks:
            if t.dead is not None or t.shim is None:
                continue
            try:
                resp = t.shim.call("Stats", shim.StatsRequest(id=t.id), shim.StatsResponse(), 10)
            except PydError:
                continue
            ts = timestamp_pb2.Timestamp()
            ts.GetCurrentTime()
            out.append(metrics_pb2.Metric(timestamp=ts, id=t.id, data=resp.stats))
        return pb.MetricsResponse(metrics=out)

    def wait(self, ns: str, req: pb.WaitRequest) -> pb.WaitResponse:
        task = self._get(ns, req.container_id)
        if task.dead is None:
            s = task.live_shim()
            try:
                resp = s.call("Wait", shim.WaitRequest(id=task.id, exec_id=req.exec_id),
                              shim.WaitResponse(), timeout=None)
                return pb.WaitResponse(exit_status=resp.exit_status, exited_at=resp.exited_at)
            except Unavailable:
                # A shim killed just now breaks the call before its death is noticed:
                # give the death a moment to be recorded before calling it an error.
                if not task.dead_event.wait(5.0) and s.alive:
                    raise
            task.dead_event.wait(60)
        if task.dead is None or req.exec_id:
            raise FailedPrecondition(f"task {task.id}: shim died")
        return pb.WaitResponse(exit_status=task.dead.status,
                               exited_at=_timestamp(task.dead.at))

    def close(self) -> None:
        """containerd is stopping: let go of the shims (they keep running)."""
        with self._lock:
            tasks = list(self._tasks.values())
        for t in tasks:
            if t.shim is not None:
                t.shim.close()
        self.shims.stop_zygote()
