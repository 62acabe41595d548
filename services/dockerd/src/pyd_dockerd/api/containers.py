"""pyd.dockerd.v1.Containers: parse the request, call the daemon, build the response
(moby's api/server/router/container). Docker's JSON shapes travel as dicts with
Docker's keys, converted to and from the messages by their json_names."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format

from pyd_dockerd.api import convert
from pyd_dockerd.container import view
from pyd_dockerd.daemon import archive, create, delete, export, stats, stop, top, update
from pyd_dockerd.daemon import exec as execs
from pyd_dockerd.daemon import start as starting
from pyd_dockerd.daemon.daemon import Daemon
from pyd_dockerd.ioutils import ChunkReader
from pyd_dockerd.logs import jsonfile
from pyd_proto.errdefs import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    abort_on_error,
)
from pyd_proto.pyd.dockerd.v1 import containers_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import containers_pb2_grpc as pb_grpc
from pyd_proto.pyd.dockerd.v1 import types_pb2

SERVICE = pb.DESCRIPTOR.services_by_name["Containers"].full_name


def to_dict(msg: Any) -> dict[str, Any]:
    return json_format.MessageToDict(msg)


def from_dict(d: dict[str, Any], msg: Any) -> Any:
    return json_format.ParseDict(d, msg, ignore_unknown_fields=True)


def _filters(m: Any) -> dict[str, list[str]]:
    return {k: list(v.values) for k, v in m.items()}


def _ts(dt: datetime) -> Any:
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


class ContainersService(pb_grpc.ContainersServicer):
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    @abort_on_error
    def Create(self, request: pb.CreateContainerRequest,
               context: grpc.ServicerContext) -> pb.CreateContainerResponse:
        config = to_dict(request.config)
        host_config = convert.host_config_from_pb(request.host_config)
        endpoints = to_dict(request.networking_config).get("EndpointsConfig") or None
        if request.from_checkpoint:
            from pyd_dockerd.daemon import checkpoint

            c = checkpoint.create_from(self.d, request.name, request.from_checkpoint,
                                       request.from_checkpoint_dir, config, host_config,
                                       endpoints)
        else:
            c = create.create(self.d, request.name, config, host_config, endpoints)
        return pb.CreateContainerResponse(id=c.id)

    @abort_on_error
    def Start(self, request: pb.StartContainerRequest,
              context: grpc.ServicerContext) -> empty_pb2.Empty:
        starting.start(self.d, request.id, checkpoint=request.checkpoint,
                       checkpoint_dir=request.checkpoint_dir,
                       lazy_restore=request.lazy_restore)
        return empty_pb2.Empty()

    @abort_on_error
    def Stop(self, request: pb.StopContainerRequest,
             context: grpc.ServicerContext) -> empty_pb2.Empty:
        timeout = request.timeout if request.HasField("timeout") else None
        stop.stop(self.d, request.id, timeout, request.signal)
        return empty_pb2.Empty()

    @abort_on_error
    def Restart(self, request: pb.RestartContainerRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        timeout = request.timeout if request.HasField("timeout") else None
        stop.restart(self.d, request.id, timeout)
        return empty_pb2.Empty()

    @abort_on_error
    def Kill(self, request: pb.KillContainerRequest,
             context: grpc.ServicerContext) -> empty_pb2.Empty:
        stop.kill(self.d, request.id, request.signal or "SIGKILL")
        return empty_pb2.Empty()

    @abort_on_error
    def Remove(self, request: pb.RemoveContainerRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        delete.remove(self.d, request.id, force=request.force, volumes=request.volumes)
        return empty_pb2.Empty()

    @abort_on_error
    def Pause(self, request: pb.PauseContainerRequest,
              context: grpc.ServicerContext) -> empty_pb2.Empty:
        stop.pause(self.d, request.id)
        return empty_pb2.Empty()

    @abort_on_error
    def Unpause(self, request: pb.UnpauseContainerRequest,
                context: grpc.ServicerContext) -> empty_pb2.Empty:
        stop.unpause(self.d, request.id)
        return empty_pb2.Empty()

    @abort_on_error
    def Rename(self, request: pb.RenameContainerRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        c = self.d.containers.rename(request.id, request.new_name)
        self.d.events.emit("container", "rename", c.id, {"name": c.name})
        return empty_pb2.Empty()

    @abort_on_error
    def List(self, request: pb.ListContainersRequest,
             context: grpc.ServicerContext) -> pb.ListContainersResponse:
        found = view.filter_containers(self.d.containers.list(), _filters(request.filters),
                                       all=request.all, limit=request.limit,
                                       latest=request.latest, resolve=self.d.containers.get)
        out = []
        for c in found:
            summary = view.summary(c)
            created = summary.pop("Created", None)
            msg = from_dict(summary, pb.ContainerSummary())
            if isinstance(created, int | float):
                msg.created.FromSeconds(int(created))
            out.append(msg)
        return pb.ListContainersResponse(containers=out)

    @abort_on_error
    def Inspect(self, request: pb.InspectContainerRequest,
                context: grpc.ServicerContext) -> pb.ContainerJSON:
        c = self.d.containers.get(request.id)
        out: pb.ContainerJSON = from_dict(convert.inspect_to_pb_dict(c.to_inspect()),
                                          pb.ContainerJSON())
        return out

    @abort_on_error
    def Wait(self, request: pb.WaitContainerRequest,
             context: grpc.ServicerContext) -> Iterator[pb.WaitContainerResponse]:
        condition = request.condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        c = self.d.containers.get(request.id)
        yield pb.WaitContainerResponse(registered=True)
        while context.is_active():
            code = self.d.monitor.wait(c.id, condition, timeout=1.0)
            if code is not None:
                yield pb.WaitContainerResponse(status_code=code)
                return

    @abort_on_error
    def Logs(self, request: pb.ContainerLogsRequest,
             context: grpc.ServicerContext) -> Iterator[pb.LogFrame]:
        c = self.d.containers.get(request.id)
        want = {"stdout"} if request.stdout else set()
        if request.stderr:
            want.add("stderr")
        if not want:
            want = {"stdout", "stderr"}
        tail = -1
        if request.tail and request.tail != "all":
            try:
                tail = int(request.tail)
            except ValueError:
                raise InvalidArgument(f"invalid value for tail: {request.tail!r}") from None
        since = request.since.ToDatetime(UTC) if request.HasField("since") else None
        until = request.until.ToDatetime(UTC) if request.HasField("until") else None

        def running() -> bool:
            try:
                return self.d.containers.get(c.id).state.running
            except NotFound:
                return False

        for e in jsonfile.read(c.log_path, since=since, until=until, tail=tail,
                               follow=request.follow, running=running,
                               stopped=lambda: not context.is_active()):
            if e.stream not in want:
                continue
            stream = (types_pb2.STD_STREAM_STDERR if e.stream == "stderr"
                      else types_pb2.STD_STREAM_STDOUT)
            yield pb.LogFrame(stream=stream, data=e.data, timestamp=_ts(e.time))

    @abort_on_error
    def Attach(self, request_iterator: Iterator[pb.AttachRequest],
               context: grpc.ServicerContext) -> Iterator[pb.AttachResponse]:
        """The container's output from now on (with `logs`, from its start), its stdin
        (for containers made with -i) and resizes, then its exit."""
        first = next(request_iterator, None)
        if first is None or not first.HasField("start"):
            raise InvalidArgument("the first attach message must be `start`")
        opts = first.start
        c = self.d.containers.get(opts.id)
        want = {name for name, on in (("stdout", opts.stdout), ("stderr", opts.stderr)) if on}
        offset = 0 if opts.logs else jsonfile.size(c.log_path)
        if opts.stdin:
            if not c.config.get("OpenStdin"):
                raise FailedPrecondition(f"container {c.name} was not created with -i")
            threading.Thread(target=self._forward_stdin, args=(c.id, request_iterator),
                             daemon=True, name=f"attach-stdin-{c.id[:12]}").start()
        else:
            threading.Thread(target=self._forward_resizes, args=(c.id, request_iterator),
                             daemon=True).start()
        # Tells the client the attach is in place (the log offset is fixed): it may start.
        yield pb.AttachResponse(output=pb.LogFrame())

        def done() -> bool:
            if not context.is_active():
                return True
            try:
                st = self.d.containers.get(c.id).state.status.value
            except NotFound:
                return True
            return st in ("exited", "dead", "removing")

        if want:
            for e in jsonfile.follow_from(c.log_path, offset, done):
                if e.stream in want:
                    stream = (types_pb2.STD_STREAM_STDERR if e.stream == "stderr"
                              else types_pb2.STD_STREAM_STDOUT)
                    yield pb.AttachResponse(output=pb.LogFrame(stream=stream, data=e.data,
                                                               timestamp=_ts(e.time)))
        else:
            while not done():
                time.sleep(0.1)
        try:
            code = self.d.containers.get(c.id).state.exit_code
        except NotFound:
            code = 0
        yield pb.AttachResponse(exit=pb.AttachExit(exit_code=code))

    def _forward_resizes(self, cid: str, requests: Iterator[pb.AttachRequest]) -> None:
        with contextlib.suppress(Exception):
            for msg in requests:
                if msg.HasField("resize"):
                    with contextlib.suppress(Exception):
                        self.d.containerd.resize_pty(cid, msg.resize.width, msg.resize.height)

    def _forward_stdin(self, cid: str, requests: Iterator[pb.AttachRequest]) -> None:
        """Client stdin into the container's stdin fifo; EOF from the client closes the
        container's stdin when it was made with --attach stdin-once (docker run -i)."""
        c = self.d.containers.get(cid)
        fd = os.open(self.d.stdin_fifo(c), os.O_WRONLY | os.O_CLOEXEC)
        try:
            for msg in requests:
                if msg.HasField("stdin"):
                    os.write(fd, msg.stdin)
                elif msg.HasField("resize"):
                    with contextlib.suppress(Exception):
                        self.d.containerd.resize_pty(cid, msg.resize.width, msg.resize.height)
                elif msg.HasField("close_stdin"):
                    break
        except (OSError, grpc.RpcError):
            pass
        finally:
            os.close(fd)
            if c.config.get("StdinOnce"):
                with contextlib.suppress(Exception):
                    self.d.containerd.close_stdin(cid)

    @abort_on_error
    def Prune(self, request: pb.PruneContainersRequest,
              context: grpc.ServicerContext) -> pb.PruneContainersResponse:
        deleted = []
        for c in view.filter_containers(self.d.containers.list(), _filters(request.filters),
                                        all=True):
            if c.state.running or c.state.restarting:
                continue
            delete.remove(self.d, c.id)
            deleted.append(c.id)
        return pb.PruneContainersResponse(containers_deleted=deleted)

    @abort_on_error
    def Top(self, request: pb.TopContainerRequest,
            context: grpc.ServicerContext) -> pb.TopContainerResponse:
        c = self.d.containers.get(request.id)
        if not c.state.running:
            raise FailedPrecondition(f"Container {c.id} is not running")
        titles, rows = top.top(self.d.containerd.task_pids(c.id), request.ps_args)
        return pb.TopContainerResponse(
            titles=titles, processes=[pb.ProcessRow(values=r) for r in rows])

    @abort_on_error
    def Resize(self, request: pb.ResizeContainerRequest,
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        c = self.d.containers.get(request.id)
        self.d.containerd.resize_pty(c.id, request.width, request.height)
        return empty_pb2.Empty()

    @abort_on_error
    def ExecCreate(self, request: pb.ExecCreateRequest,
                   context: grpc.ServicerContext) -> pb.ExecCreateResponse:
        e = execs.create(self.d, request.container, execs.ExecConfig(
            id="", container_id="", cmd=list(request.cmd), env=list(request.env),
            user=request.user, working_dir=request.working_dir,
            privileged=request.privileged, tty=request.tty,
            attach_stdin=request.attach_stdin, attach_stdout=request.attach_stdout,
            attach_stderr=request.attach_stderr, detach_keys=request.detach_keys))
        return pb.ExecCreateResponse(id=e.id)

    @abort_on_error
    def ExecStart(self, request_iterator: Iterator[pb.ExecStartRequest],
                  context: grpc.ServicerContext) -> Iterator[pb.AttachResponse]:
        first = next(request_iterator, None)
        if first is None or not first.HasField("start"):
            raise InvalidArgument("the first exec message must be `start`")
        opts = first.start
        e = self.d.execs.get(opts.exec_id)

        def stdin() -> Iterator[bytes]:
            for msg in request_iterator:
                if msg.HasField("stdin"):
                    yield msg.stdin
                elif msg.HasField("resize"):
                    with contextlib.suppress(Exception):
                        self.d.containerd.resize_pty(e.container_id, msg.resize.width,
                                                     msg.resize.height, opts.exec_id)
                elif msg.HasField("close_stdin"):
                    return

        for stream, data in execs.start(self.d, opts.exec_id, stdin(), detach=opts.detach):
            kind = (types_pb2.STD_STREAM_STDERR if stream == "stderr"
                    else types_pb2.STD_STREAM_STDOUT)
            yield pb.AttachResponse(output=pb.LogFrame(stream=kind, data=data))
        if not opts.detach:
            e.done.wait()
        yield pb.AttachResponse(exit=pb.AttachExit(exit_code=e.exit_code or 0))

    @abort_on_error
    def ExecInspect(self, request: pb.ExecInspectRequest,
                    context: grpc.ServicerContext) -> pb.ExecInspectResponse:
        e = self.d.execs.get(request.exec_id)
        out = pb.ExecInspectResponse(
            id=e.id, running=e.running, container_id=e.container_id, pid=e.pid,
            open_stdin=e.attach_stdin, open_stdout=e.attach_stdout,
            open_stderr=e.attach_stderr, detach_keys=e.detach_keys)
        if e.exit_code is not None:
            out.exit_code = e.exit_code
        out.process_config.tty = e.tty
        out.process_config.entrypoint = e.cmd[0]
        out.process_config.arguments.extend(e.cmd[1:])
        out.process_config.user = e.user
        out.process_config.privileged = e.privileged
        return out

    @abort_on_error
    def ExecResize(self, request: pb.ExecResizeRequest,
                   context: grpc.ServicerContext) -> empty_pb2.Empty:
        e = self.d.execs.get(request.exec_id)
        self.d.containerd.resize_pty(e.container_id, request.width, request.height, e.id)
        return empty_pb2.Empty()

    @abort_on_error
    def StatPath(self, request: pb.StatPathRequest,
                 context: grpc.ServicerContext) -> pb.PathStat:
        c = self.d.containers.get(request.id)
        with archive.container_root(self.d, c) as root:
            st = archive.stat_path(root, request.path)
        out = pb.PathStat(name=st.name, size=st.size, mode=st.mode,
                          link_target=st.link_target)
        out.mtime.FromDatetime(st.mtime)
        return out

    @abort_on_error
    def CopyFrom(self, request: pb.CopyFromRequest,
                 context: grpc.ServicerContext) -> Iterator[pb.CopyFromResponse]:
        c = self.d.containers.get(request.id)
        with archive.container_root(self.d, c) as root:
            st = archive.stat_path(root, request.path)
            first = pb.CopyFromResponse(stat=pb.PathStat(
                name=st.name, size=st.size, mode=st.mode, link_target=st.link_target))
            first.stat.mtime.FromDatetime(st.mtime)
            yield first
            for chunk in archive.tar_out(root, request.path):
                yield pb.CopyFromResponse(chunk=chunk)

    @abort_on_error
    def CopyTo(self, request_iterator: Iterator[pb.CopyToRequest],
               context: grpc.ServicerContext) -> empty_pb2.Empty:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument("the first copy message must be the header")
        c = self.d.containers.get(first.header.id)
        if c.host_config.get("ReadonlyRootfs"):
            raise FailedPrecondition("container rootfs is marked read-only")
        with archive.container_root(self.d, c) as root:
            archive.tar_in(root, first.header.path,
                           ChunkReader(r.chunk for r in request_iterator if r.chunk))
        return empty_pb2.Empty()

    @abort_on_error
    def Stats(self, request: pb.ContainerStatsRequest,
              context: grpc.ServicerContext) -> Iterator[pb.ContainerStats]:
        for c, cur, prev in stats.stream(self.d, request.id, follow=request.stream,
                                         one_shot=request.one_shot,
                                         stopped=lambda: not context.is_active()):
            msg: pb.ContainerStats = from_dict(_stats_json(stats.to_dict(c, cur, prev)),
                                               pb.ContainerStats())
            yield msg

    @abort_on_error
    def Export(self, request: pb.ExportContainerRequest,
               context: grpc.ServicerContext) -> Iterator[types_pb2.TarChunk]:
        for chunk in export.export(self.d, request.id):
            yield types_pb2.TarChunk(data=chunk)

    @abort_on_error
    def Update(self, request: pb.UpdateContainerRequest,
               context: grpc.ServicerContext) -> pb.UpdateContainerResponse:
        policy = None
        if request.HasField("restart_policy"):
            policy = to_dict(request.restart_policy)
            policy.setdefault("Name", "")
            policy.setdefault("MaximumRetryCount", 0)
        resources = json_format.MessageToDict(request.resources,
                                              preserving_proto_field_name=False)
        warnings = update.update(self.d, request.id, resources, policy)
        return pb.UpdateContainerResponse(warnings=warnings)


def _stats_json(d: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as RFC 3339 strings, which json_format reads into Timestamps."""
    return {k: (v.astimezone(UTC).isoformat().replace("+00:00", "Z")
                if isinstance(v, datetime) else v) for k, v in d.items()}
