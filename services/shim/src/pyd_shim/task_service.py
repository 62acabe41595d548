"""containerd.task.v2.Task: the shim's API, over the init and exec processes.

`TaskService` is plain Python (request message in, response message out);
`register()` puts its methods on a ttrpc server.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

from google.protobuf import any_pb2, empty_pb2

from pyd_proto.containerd.events import task_pb2 as events
from pyd_proto.containerd.runtime.task.v2 import shim_pb2 as pb
from pyd_proto.containerd.types import mount_pb2
from pyd_proto.containerd.types.task import task_pb2 as types
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from pyd_shim import __version__, cgroups
from pyd_shim.events import timestamp
from pyd_shim.log import get_logger
from pyd_shim.process.base import Process
from pyd_shim.process.exec import Exec
from pyd_shim.process.init import CheckpointOptions, Init
from pyd_shim.process.io import ProcessIO
from pyd_shim.reaper import Reaper
from pyd_shim.runc import DEFAULT_BINARY, Runtime

log = get_logger("pyd.shim.task")

SERVICE = "containerd.task.v2.Task"
EXIT_FILE = "exit.json"
OUTPUT_DRAIN = 1.0  # seconds an exit waits for its output to reach the log
OPTIONS_FILE = "options.json"

_STATUS = {"created": types.CREATED, "running": types.RUNNING, "paused": types.PAUSED,
           "stopped": types.STOPPED, "deleted": types.STOPPED}


class EventSink(Protocol):
    """Where task events go (the Publisher, or a list in tests)."""

    def publish(self, topic: str, event: Any) -> None: ...


def runc_options(value: any_pb2.Any | None) -> dict[str, Any]:
    """The fields pyd uses from upstream's `containerd.runc.v1.Options` (6 binary_name,
    7 root, 8 criu_path, 9 systemd_cgroup), decoded from the wire: what upstream
    containerd passes in CreateTaskRequest.options."""
    from pyd_shim import ttrpc

    out: dict[str, Any] = {}
    if value is None or not value.value or not value.type_url.endswith(
            ("containerd.runc.v1.Options", "runtimeoptions.v1.Options")):
        return out
    names = {6: "binary_name", 7: "root", 8: "criu_path"}
    for num, field in ttrpc.fields(value.value):
        if num in names and isinstance(field, bytes):
            out[names[num]] = field.decode()
        elif num == 9 and isinstance(field, int):
            out["systemd_cgroup"] = bool(field)
    return out


def find_binary(name: str) -> str:
    """`name` beside this Python (a venv's bin), else on PATH, else `name` as given."""
    if "/" in name:
        return name
    for d in [os.path.dirname(sys.executable), *os.environ.get("PATH", "").split(":")]:
        path = os.path.join(d, name)
        if d and os.access(path, os.X_OK):
            return path
    return name


class RuntimeOptions:
    """`<bundle>/options.json` (written by pyd-containerd), or upstream's runc Options in
    the Create request (upstream containerd driving pyd-shim)."""

    def __init__(self, binary_name: str = DEFAULT_BINARY, root: str = "",
                 systemd_cgroup: bool = False, criu_path: str = "") -> None:
        self.binary_name = binary_name
        self.root = root
        self.systemd_cgroup = systemd_cgroup
        self.criu_path = criu_path

    @classmethod
    def load(cls, bundle: str, namespace: str,
             options: any_pb2.Any | None = None) -> RuntimeOptions:
        opts = cls(root=os.path.join("/run/pyd/runc", namespace))
        data: dict[str, Any] = {}
        try:
            with open(os.path.join(bundle, OPTIONS_FILE)) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = runc_options(options)
        for key in ("binary_name", "root", "criu_path"):
            if data.get(key):
                setattr(opts, key, str(data[key]))
        opts.systemd_cgroup = bool(data.get("systemd_cgroup", False))
        opts.binary_name = find_binary(opts.binary_name)
        return opts

    def save(self, bundle: str) -> None:
        """Keep what Create used, for `pyd-shim delete` after this shim is gone."""
        path = os.path.join(bundle, OPTIONS_FILE)
        if not os.path.exists(path):
            with open(path, "w") as f:
                json.dump({"binary_name": self.binary_name, "root": self.root,
                           "systemd_cgroup": self.systemd_cgroup,
                           "criu_path": self.criu_path}, f)


def _json_any(value: any_pb2.Any, what: str) -> Any:
    """OCI JSON carried in an Any (containerd's typeurl for runtime-spec types)."""
    if not value.value:
        return {}
    try:
        return json.loads(value.value)
    except ValueError as e:
        raise InvalidArgument(f"{what}: not JSON ({value.type_url}): {e}") from e


def write_exit_file(bundle: str, pid: int, status: int, at: float) -> None:
    """Record the init's exit for a containerd that asks after the shim is gone."""
    path = os.path.join(bundle, EXIT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": pid, "exit_status": status, "exited_at": at}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def mount_all(mounts: list[mount_pb2.Mount], target: str, run: Callable[[list[str]], int]) -> None:
    for m in mounts:
        argv = ["mount", "-t", m.type or "none"]
        if m.options:
            argv += ["-o", ",".join(m.options)]
        argv += [m.source, target]
        if run(argv) != 0:
            raise FailedPrecondition(f"mount {m.type} {m.source} on {target} failed")


class TaskService:
    """One container's task: the init process and its execs."""

    def __init__(self, *, namespace: str, id: str, bundle: str, reaper: Reaper,
                 events: EventSink, on_shutdown: Callable[[], None] = lambda: None) -> None:
        self.namespace = namespace
        self.id = id
        self.bundle = bundle
        self.reaper = reaper
        self.events = events
        self.on_shutdown = on_shutdown
        self.init: Init | None = None
        self.execs: dict[str, Exec] = {}
        self._lock = threading.RLock()
        self._by_pid: dict[int, Process] = {}
        self._exits: queue.Queue[tuple[int, int, float]] = queue.Queue()
        self._mounted = False
        reaper.subscribe(lambda pid, code, at: self._exits.put((pid, code, at)))
        threading.Thread(target=self._exit_loop, daemon=True, name="exits").start()

    # -- exits ------------------------------------------------------------------------

    def _exit_loop(self) -> None:
        # Not in the reaper's thread: handling an exit may run the runtime, whose exit
        # the reaper must be free to collect.
        while True:
            pid, code, at = self._exits.get()
            with self._lock:
                proc = self._by_pid.pop(pid, None)
            if proc is not None:
                self._process_exited(proc, code, at)

    def _watch_oom(self, pid: int) -> None:
        from pyd_shim import oom

        oom.watch(pid, lambda: self.events.publish(
            "/tasks/oom", events.TaskOOM(container_id=self.id)))

    def _track(self, proc: Process) -> None:
        """Watch `proc.pid`; it may have exited before we knew its pid."""
        with self._lock:
            self._by_pid[proc.pid] = proc
            early = self.reaper.exited(proc.pid)
            if early is not None:
                self._by_pid.pop(proc.pid, None)
        if early is not None:
            self._process_exited(proc, early[0], early[1])

    def _process_exited(self, proc: Process, code: int, at: float) -> None:
        if proc.exit is not None:
            return
        if proc is self.init:
            with contextlib.suppress(OSError):
                write_exit_file(self.bundle, proc.pid, code, at)
            # Like runc's init exiting: what the container left behind dies with it.
            with self._lock:
                execs = [e for e in self.execs.values() if e.status == "running"]
            for e in execs:
                with contextlib.suppress(Exception):
                    os.kill(e.pid, 9)
        proc.io.drain(OUTPUT_DRAIN)
        proc.set_exited(code, at)
        log.info("process exited", extra={"id": self.id, "exec_id": proc.exec_id,
                                          "pid": proc.pid, "exit_status": code})
        self.events.publish("/tasks/exit", events.TaskExit(
            container_id=self.id, id=proc.exec_id or self.id, pid=proc.pid, exit_status=code,
            exited_at=timestamp(at)))

    # -- lookups ----------------------------------------------------------------------

    def _init(self) -> Init:
        if self.init is None:
            raise NotFound(f"task {self.id}: not created")
        return self.init

    def _process(self, exec_id: str) -> Process:
        if not exec_id:
            return self._init()
        with self._lock:
            proc = self.execs.get(exec_id)
        if proc is None:
            raise NotFound(f"exec {exec_id} of {self.id}: not found")
        return proc

    def _check_id(self, id: str) -> None:
        if id and id != self.id:
            raise NotFound(f"task {id}: not served by this shim ({self.id})")

    # -- containerd.task.v2.Task ---------------------------------------------------------

    def Create(self, req: pb.CreateTaskRequest) -> pb.CreateTaskResponse:
        self._check_id(req.id)
        with self._lock:
            if self.init is not None:
                raise AlreadyExists(f"task {req.id}: already created")
            bundle = req.bundle or self.bundle
            opts = RuntimeOptions.load(bundle, self.namespace,
                                       req.options if req.HasField("options") else None)
            opts.save(bundle)
            runtime = Runtime(binary=opts.binary_name, root=opts.root,
                              log_path=os.path.join(bundle, "log.json"),
                              systemd_cgroup=opts.systemd_cgroup, criu=opts.criu_path,
                              reaper=self.reaper)
            if req.lazy_restore:
                log.info("create with lazy restore", extra={
                    "id": req.id, "checkpoint": req.checkpoint, "lazy_restore": req.lazy_restore})
            if req.lazy_restore and not req.checkpoint:
                raise InvalidArgument("lazy_restore needs a checkpoint to restore from")
            rootfs = os.path.join(bundle, "rootfs")
            if req.rootfs:
                os.makedirs(rootfs, exist_ok=True)
                mount_all(list(req.rootfs), rootfs, lambda argv: self.reaper.run(argv))
                self._mounted = True
            io = ProcessIO(req.stdin, req.stdout, req.stderr, req.terminal)
            tls = (req.lazy_restore_tls_cacert, req.lazy_restore_tls_cert,
                   req.lazy_restore_tls_key)
            init = Init(req.id, bundle, runtime, io, checkpoint=req.checkpoint,
                        lazy_restore=req.lazy_restore,
                        lazy_restore_tls=tls if all(tls) else None)
            try:
                init.create()
            except BaseException:
                self._unmount()
                raise
            self.init = init
            if init.pid:
                self._track(init)
                self._watch_oom(init.pid)
        log.info("task created", extra={"id": req.id, "pid": init.pid,
                                        "runtime": runtime.binary})
        self.events.publish("/tasks/create", events.TaskCreate(
            container_id=req.id, bundle=bundle, rootfs=list(req.rootfs),
            io=events.TaskIO(stdin=req.stdin, stdout=req.stdout, stderr=req.stderr,
                             terminal=req.terminal),
            checkpoint=req.checkpoint, pid=init.pid))
        return pb.CreateTaskResponse(pid=init.pid)

    def Start(self, req: pb.StartRequest) -> pb.StartResponse:
        self._check_id(req.id)
        proc = self._process(req.exec_id)
        if isinstance(proc, Init):
            restoring = not proc.pid
            proc.start()
            if restoring:
                self._track(proc)
                self._watch_oom(proc.pid)
            self.events.publish("/tasks/start", events.TaskStart(container_id=self.id,
                                                                 pid=proc.pid))
        elif isinstance(proc, Exec):
            self._init().can_exec()
            proc.start()
            self._track(proc)
            self.events.publish("/tasks/exec-started", events.TaskExecStarted(
                container_id=self.id, exec_id=proc.exec_id, pid=proc.pid))
        return pb.StartResponse(pid=proc.pid)

    def _delete_response(self, proc: Process) -> pb.DeleteResponse:
        exit = proc.exit
        return pb.DeleteResponse(pid=proc.pid, exit_status=exit.status if exit else 0,
                                 exited_at=timestamp(exit.at) if exit else None)

    def Delete(self, req: pb.DeleteRequest) -> pb.DeleteResponse:
        self._check_id(req.id)
        if req.exec_id:
            proc = self._process(req.exec_id)
            assert isinstance(proc, Exec)
            proc.delete()
            with self._lock:
                self.execs.pop(req.exec_id, None)
            return self._delete_response(proc)
        init = self._init()
        with self._lock:
            if any(e.status == "running" for e in self.execs.values()):
                raise FailedPrecondition(f"task {self.id}: exec processes still running")
        init.delete()
        self._unmount()
        resp = self._delete_response(init)
        self.events.publish("/tasks/delete", events.TaskDelete(
            container_id=self.id, id=self.id, pid=resp.pid, exit_status=resp.exit_status,
            exited_at=resp.exited_at))
        return resp

    def _unmount(self) -> None:
        if self._mounted:
            rootfs = os.path.join(self.init.bundle if self.init else self.bundle, "rootfs")
            self.reaper.run(["umount", "-R", rootfs])
            self._mounted = False

    def State(self, req: pb.StateRequest) -> pb.StateResponse:
        self._check_id(req.id)
        proc = self._process(req.exec_id)
        exit = proc.exit
        resp = pb.StateResponse(
            id=self.id, exec_id=req.exec_id, bundle=self.bundle, pid=proc.pid,
            status=_STATUS.get(proc.status, types.UNKNOWN), stdin=proc.io.stdin,
            stdout=proc.io.stdout, stderr=proc.io.stderr, terminal=proc.io.terminal,
            exit_status=exit.status if exit else 0)
        if exit:
            resp.exited_at.CopyFrom(timestamp(exit.at))
        return resp

    def Kill(self, req: pb.KillRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        proc = self._process(req.exec_id)
        signal = req.signal or 15
        if isinstance(proc, Init):
            proc.kill(signal, req.all)
        elif isinstance(proc, Exec):
            proc.kill(signal)
        return empty_pb2.Empty()

    def Pids(self, req: pb.PidsRequest) -> pb.PidsResponse:
        self._check_id(req.id)
        init = self._init()
        if init.status not in ("running", "paused", "created"):
            return pb.PidsResponse()
        pids = init.runtime.ps(self.id)
        return pb.PidsResponse(processes=[types.ProcessInfo(pid=p) for p in pids])

    def Pause(self, req: pb.PauseRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        self._init().pause()
        self.events.publish("/tasks/paused", events.TaskPaused(container_id=self.id))
        return empty_pb2.Empty()

    def Resume(self, req: pb.ResumeRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        self._init().resume()
        self.events.publish("/tasks/resumed", events.TaskResumed(container_id=self.id))
        return empty_pb2.Empty()

    def Checkpoint(self, req: pb.CheckpointTaskRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        if not req.path:
            raise InvalidArgument("checkpoint: path (the image directory) is required")
        os.makedirs(req.path, exist_ok=True)
        self._init().checkpoint(CheckpointOptions(
            image_path=req.path, leave_running=req.leave_running, lazy=req.lazy,
            page_server=req.page_server, work_path=os.path.join(self.bundle, "criu-work")))
        self.events.publish("/tasks/checkpointed", events.TaskCheckpointed(
            container_id=self.id, checkpoint=req.path))
        return empty_pb2.Empty()

    def Exec(self, req: pb.ExecProcessRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        init = self._init()
        init.can_exec()
        if not req.exec_id:
            raise InvalidArgument("exec_id is required")
        spec = _json_any(req.spec, "exec spec")
        if not isinstance(spec, dict) or not spec.get("args"):
            raise InvalidArgument("exec spec: an OCI process with args is required")
        with self._lock:
            if req.exec_id in self.execs:
                raise AlreadyExists(f"exec {req.exec_id}: already exists")
            self.execs[req.exec_id] = Exec(
                self.id, req.exec_id, init.bundle, init.runtime,
                ProcessIO(req.stdin, req.stdout, req.stderr, req.terminal), spec)
        self.events.publish("/tasks/exec-added", events.TaskExecAdded(
            container_id=self.id, exec_id=req.exec_id))
        return empty_pb2.Empty()

    def ResizePty(self, req: pb.ResizePtyRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        self._process(req.exec_id).io.resize(req.width, req.height)
        return empty_pb2.Empty()

    def CloseIO(self, req: pb.CloseIORequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        if req.stdin:
            self._process(req.exec_id).io.close_io()
        return empty_pb2.Empty()

    def Update(self, req: pb.UpdateTaskRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        resources = _json_any(req.resources, "resources")
        if not isinstance(resources, dict):
            raise InvalidArgument("resources: a JSON object (OCI LinuxResources) is required")
        self._init().update(resources)
        return empty_pb2.Empty()

    def Wait(self, req: pb.WaitRequest) -> pb.WaitResponse:
        self._check_id(req.id)
        proc = self._process(req.exec_id)
        exit = proc.wait()
        assert exit is not None
        return pb.WaitResponse(exit_status=exit.status, exited_at=timestamp(exit.at))

    def Stats(self, req: pb.StatsRequest) -> pb.StatsResponse:
        self._check_id(req.id)
        init = self._init()
        if not init.pid or init.exit is not None:
            raise FailedPrecondition(f"task {self.id}: not running")
        try:
            figures = cgroups.stats(init.pid)
        except OSError as e:
            raise NotFound(f"task {self.id}: cgroups of pid {init.pid}: {e}") from e
        packed = any_pb2.Any(type_url=cgroups.METRICS_TYPE_URL, value=cgroups.encode_v1(figures))
        return pb.StatsResponse(stats=packed)

    def Connect(self, req: pb.ConnectRequest) -> pb.ConnectResponse:
        self._check_id(req.id)
        return pb.ConnectResponse(shim_pid=os.getpid(),
                                  task_pid=self.init.pid if self.init else 0,
                                  version=__version__)

    def Shutdown(self, req: pb.ShutdownRequest) -> empty_pb2.Empty:
        self._check_id(req.id)
        with self._lock:
            live = self.init is not None and self.init.status != "deleted"
        if live and not req.now:
            return empty_pb2.Empty()  # upstream: a shim with a task keeps serving
        log.info("shutting down", extra={"id": self.id})
        threading.Timer(0.05, self.on_shutdown).start()
        return empty_pb2.Empty()


METHODS: dict[str, type[Any]] = {
    "State": pb.StateRequest, "Create": pb.CreateTaskRequest, "Start": pb.StartRequest,
    "Delete": pb.DeleteRequest, "Pids": pb.PidsRequest, "Pause": pb.PauseRequest,
    "Resume": pb.ResumeRequest, "Checkpoint": pb.CheckpointTaskRequest,
    "Kill": pb.KillRequest, "Exec": pb.ExecProcessRequest,
    "ResizePty": pb.ResizePtyRequest, "CloseIO": pb.CloseIORequest,
    "Update": pb.UpdateTaskRequest, "Wait": pb.WaitRequest, "Stats": pb.StatsRequest,
    "Connect": pb.ConnectRequest, "Shutdown": pb.ShutdownRequest,
}


def register(server: Any, service: TaskService) -> None:
    """Put every Task method on a ttrpc `Server`."""
    for name, request_type in METHODS.items():
        fn = getattr(service, name)
        server.register(SERVICE, name, request_type, lambda req, _call, fn=fn: fn(req))
