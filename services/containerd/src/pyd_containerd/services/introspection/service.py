"""containerd.services.introspection.v1.Introspection: what the daemon is made of.

`Server` answers the daemon's UUID (made once, kept under
`<root>/io.containerd.grpc.v1.introspection/uuid` as upstream keeps it), pid and
pid namespace: `ctr version` prints the UUID. `Plugins` lists the daemon's parts
under upstream's plugin types and ids (`ctr plugins ls`), built from what
`make_server` actually registered.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import empty_pb2

from pyd_containerd.metadata import filters
from pyd_proto.containerd.services.introspection.v1 import introspection_pb2 as pb
from pyd_proto.containerd.services.introspection.v1 import introspection_pb2_grpc as pb_grpc
from pyd_proto.containerd.types import platform_pb2
from pyd_proto.errdefs import NotFound, Unimplemented, abort_on_error

SERVICE = pb.DESCRIPTOR.services_by_name["Introspection"].full_name
UUID_DIR = "io.containerd.grpc.v1.introspection"

# upstream's plugin types (containerd/plugins/types.go)
GRPC = "io.containerd.grpc.v1"
SERVICE_PLUGIN = "io.containerd.service.v1"
CONTENT = "io.containerd.content.v1"
SNAPSHOTTER = "io.containerd.snapshotter.v1"
METADATA = "io.containerd.metadata.v1"
DIFFER = "io.containerd.differ.v1"
EVENT = "io.containerd.event.v1"
GC = "io.containerd.gc.v1"
LEASE = "io.containerd.lease.v1"
RUNTIME = "io.containerd.runtime.v2"


@dataclass(frozen=True)
class Plugin:
    """One plugin as introspection reports it."""

    type: str
    id: str
    requires: tuple[str, ...] = ()
    exports: dict[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()  # "os/arch"; empty: any platform
    capabilities: tuple[str, ...] = ()

    def to_pb(self) -> pb.Plugin:
        plats = []
        for p in self.platforms:
            os_, _, arch = p.partition("/")
            plats.append(platform_pb2.Platform(os=os_, architecture=arch))
        return pb.Plugin(type=self.type, id=self.id, requires=list(self.requires),
                         platforms=plats, exports=self.exports,
                         capabilities=list(self.capabilities))


def grpc_plugin_id(service: str) -> str:
    """Upstream's id of the grpc plugin serving `service`:
    containerd.services.tasks.v1.Tasks → tasks; pyd's own services keep their name."""
    parts = service.split(".")
    if len(parts) == 5 and parts[:2] == ["containerd", "services"]:
        return parts[2]
    if service == "grpc.health.v1.Health":
        return "healthcheck"
    return service


def _getter(p: Plugin) -> filters.Getter:
    # upstream's adaptPlugin: only type and id are filterable
    def get(path: list[str]) -> tuple[str, bool]:
        if path == ["type"]:
            return p.type, bool(p.type)
        if path == ["id"]:
            return p.id, bool(p.id)
        return "", False
    return get


class Introspection:
    """The local implementation: plugins (computed on demand) and the server's UUID."""

    def __init__(self, root: str, plugins: Callable[[], Sequence[Plugin]]) -> None:
        self.root = root
        self._plugins = plugins
        self._lock = threading.Lock()

    def plugins(self, filter_strs: Sequence[str] = ()) -> list[Plugin]:
        flt = filters.parse(filter_strs)
        return [p for p in self._plugins() if flt.match(_getter(p))]

    def plugin(self, type: str, id: str) -> Plugin:
        for p in self._plugins():
            if p.type == type and p.id == id:
                return p
        raise NotFound(f"plugin {type}.{id}: not found")

    def uuid(self) -> str:
        """The daemon's UUID: made on first use and kept, as upstream's getUUID does."""
        path = os.path.join(self.root, UUID_DIR, "uuid")
        with self._lock:
            try:
                with open(path) as f:
                    value = f.read().strip()
                uuid.UUID(value)  # a damaged file is replaced below
                return value
            except (OSError, ValueError):
                pass
            value = str(uuid.uuid4())
            os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(value)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            return value


def pid_namespace() -> int:
    """The inode of this process's pid namespace (what upstream reports as pidns)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


class IntrospectionService(pb_grpc.IntrospectionServicer):
    def __init__(self, local: Introspection) -> None:
        self.local = local

    @abort_on_error
    def Plugins(self, request: pb.PluginsRequest,
                context: grpc.ServicerContext) -> pb.PluginsResponse:
        return pb.PluginsResponse(
            plugins=[p.to_pb() for p in self.local.plugins(list(request.filters))])

    @abort_on_error
    def Server(self, request: empty_pb2.Empty,
               context: grpc.ServicerContext) -> pb.ServerResponse:
        return pb.ServerResponse(uuid=self.local.uuid(), pid=os.getpid(), pidns=pid_namespace())

    @abort_on_error
    def PluginInfo(self, request: pb.PluginInfoRequest,
                   context: grpc.ServicerContext) -> pb.PluginInfoResponse:
        plugin = self.local.plugin(request.type, request.id)
        if request.HasField("options"):
            # upstream: a plugin without an info provider rejects options
            raise Unimplemented(f"plugin {request.type}.{request.id}: takes no options")
        return pb.PluginInfoResponse(plugin=plugin.to_pb())
