"""pyd.dockerd.v1.System: parse, call the daemon core, build the response (moby's
api/server/router/system)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2

from pyd_dockerd.daemon.daemon import Daemon
from pyd_dockerd.daemon.events import Event
from pyd_dockerd.daemon.info import system_info
from pyd_dockerd.daemon.version import server_version
from pyd_proto.errdefs import InvalidArgument, abort_on_error
from pyd_proto.pyd.dockerd.v1 import API_VERSION, MIN_API_VERSION
from pyd_proto.pyd.dockerd.v1 import system_pb2 as pb
from pyd_proto.pyd.dockerd.v1 import system_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["System"].full_name


class SystemService(pb_grpc.SystemServicer):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def Ping(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> pb.PingResponse:
        return pb.PingResponse(api_version=API_VERSION, min_api_version=MIN_API_VERSION,
                               os_type="linux", experimental=True)

    @abort_on_error
    def Version(self, request: empty_pb2.Empty,
                context: grpc.ServicerContext) -> pb.VersionResponse:
        v = server_version(self.daemon)
        return pb.VersionResponse(
            platform=pb.Platform(name="pyd engine"),
            components=[pb.ComponentVersion(name=c.name, version=c.version, details=c.details)
                        for c in v.components],
            version=v.version, api_version=v.api_version, min_api_version=v.min_api_version,
            git_commit=v.git_commit, python_version=v.python_version, os=v.os, arch=v.arch,
            kernel_version=v.kernel_version, experimental=True)

    @abort_on_error
    def Info(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> pb.InfoResponse:
        i = system_info(self.daemon)
        resp = pb.InfoResponse(
            id=i.id, name=i.name, server_version=i.server_version, containers=i.containers,
            containers_running=i.containers_running, containers_paused=i.containers_paused,
            containers_stopped=i.containers_stopped, images=i.images, driver=i.driver,
            logging_driver=i.logging_driver, cgroup_driver=i.cgroup_driver,
            cgroup_version=i.cgroup_version, kernel_version=i.kernel_version,
            operating_system=i.operating_system, os_type=i.os_type,
            architecture=i.architecture, ncpu=i.ncpu, mem_total=i.mem_total,
            docker_root_dir=i.docker_root_dir, exec_root=i.exec_root, hosts=i.hosts,
            containerd_address=i.containerd_address, containerd_managed=i.containerd_managed,
            containerd_root=i.containerd_root, containerd_state=i.containerd_state,
            runtime_name=i.runtime_name, runtime_path=i.runtime_path,
            runtime_root=i.runtime_root, criu_version=i.criu_version, criu_path=i.criu_path,
            live_restore_enabled=i.live_restore_enabled, cgroup_parent=i.cgroup_parent,
            debug=i.debug, warnings=i.warnings,
            default_runtime=i.runtime_name, experimental_build=True,
            memory_limit=True, cpu_cfs_period=True, cpu_cfs_quota=True, cpu_shares=True,
            cpu_set=True, pids_limit=True)
        resp.runtimes[i.runtime_name].path = i.runtime_path
        resp.system_time.GetCurrentTime()
        return resp

    @abort_on_error
    def Events(self, request: pb.EventsRequest,
               context: grpc.ServicerContext) -> Iterator[pb.Event]:
        """Past events since `since`, then live ones until `until` or the client goes,
        filtered as docker does (type, event/action, container/image/network/volume,
        label)."""
        since = request.since.ToNanoseconds() if request.HasField("since") else 0
        until = request.until.ToNanoseconds() if request.HasField("until") else 0
        filters = {k: list(v.values) for k, v in request.filters.items()}
        stop = threading.Event()
        context.add_callback(stop.set)
        for e in self.daemon.events.subscribe(since, until, stop):
            if not _event_matches(e, filters):
                continue
            yield pb.Event(type=e.type, action=e.action, scope="local",
                           actor=pb.EventActor(id=e.id, attributes=e.attributes),
                           time=e.time_nano // 1_000_000_000, time_nano=e.time_nano)

    @abort_on_error
    def DataUsage(self, request: pb.DataUsageRequest,
                  context: grpc.ServicerContext) -> pb.DataUsageResponse:
        from google.protobuf import json_format

        from pyd_dockerd.api.images import _summary
        from pyd_dockerd.api.volumes import to_volume
        from pyd_dockerd.daemon.disk_usage import TYPES, data_usage
        from pyd_proto.pyd.dockerd.v1 import containers_pb2

        for t in request.types:
            if t not in TYPES:
                raise InvalidArgument(f"invalid type: {t}")
        du = data_usage(self.daemon, list(request.types))
        resp = pb.DataUsageResponse(layers_size=du.layers_size)
        for u in du.images:
            img = _summary(u.info, u.containers)
            img.size, img.shared_size = u.size, u.shared_size
            resp.images.append(img)
        for c in du.containers:
            c = dict(c)
            created = c.pop("Created", 0)
            msg = json_format.ParseDict(c, containers_pb2.ContainerSummary(),
                                        ignore_unknown_fields=True)
            msg.created.FromSeconds(int(created))
            resp.containers.append(msg)
        for v, size in du.volumes:
            resp.volumes.append(to_volume(v, size))
        return resp


def _event_matches(e: Event, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and e.type not in values:
            return False
        if key in ("event", "action") and e.action.split(":")[0] not in values:
            return False
        if key in ("container", "image", "network", "volume"):
            if e.type != key or not any(v in (e.id, e.attributes.get("name", "")) or
                                        e.id.startswith(v) for v in values):
                return False
        if key == "label" and not all(
                (v.partition("=")[0] in e.attributes and
                 (not v.partition("=")[1] or e.attributes[v.partition("=")[0]] ==
                  v.partition("=")[2])) for v in values):
            return False
    return True
