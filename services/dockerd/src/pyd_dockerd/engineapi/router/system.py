"""/_ping, /version, /info, /events, /system/df (moby's api/server/router/system)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pyd_dockerd.engineapi import API_VERSION, MIN_API_VERSION
from pyd_dockerd.engineapi.httputils import form
from pyd_dockerd.engineapi.httputils.errors import BadParameter
from pyd_dockerd.engineapi.httputils.stream import blocking, iterate, json_line

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.daemon.events import Event
    from pyd_dockerd.engineapi.app import Route
    from pyd_dockerd.volumes.local import Volume


def json_response(doc: Any, status: int = 200) -> web.Response:
    """A JSON body as moby's httputils.WriteJSON writes it."""
    return web.Response(status=status, body=json_line(doc), content_type="application/json")


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix_time(text: str, name: str) -> int:
    """`since`/`until` as docker sends them: seconds[.nanoseconds] → nanoseconds, or an
    RFC 3339 time."""
    text = text.strip()
    try:
        secs, _, frac = text.partition(".")
        return int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        raise BadParameter(f"invalid value for {name}: {text!r}") from None


def _volume_usage(v: Volume, size: int) -> dict[str, Any]:
    """A volume with its UsageData; -1 for a size not computed (moby's "not
    available", for volumes of drivers other than local)."""
    doc = v.to_json(size)
    doc.setdefault("UsageData", {"RefCount": v.ref_count, "Size": -1})
    return doc


class SystemRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        return [("GET", "/_ping", self.ping), ("HEAD", "/_ping", self.ping),
                ("GET", "/version", self.version), ("GET", "/info", self.info),
                ("GET", "/events", self.events), ("GET", "/system/df", self.disk_usage)]

    async def ping(self, request: web.Request) -> web.StreamResponse:
        headers = {"Cache-Control": "no-cache, no-store, must-revalidate",
                   "Pragma": "no-cache", "Swarm": "inactive",
                   # The classic builder's version: pyd builds no images, and "2" would
                   # send the CLI looking for BuildKit.
                   "Builder-Version": "1"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": "0"},
                                content_type="text/plain", charset="utf-8")
        return web.Response(text="OK", headers=headers, content_type="text/plain",
                            charset="utf-8")

    async def version(self, request: web.Request) -> web.StreamResponse:
        from pyd_dockerd.daemon.version import server_version

        v = await blocking(server_version, self.d)
        components = []
        for c in v.components:
            details = dict(c.details)
            if c.name == "Engine":
                # The Engine API's versions, not pyd.dockerd.v1's.
                details.update(ApiVersion=API_VERSION, MinAPIVersion=MIN_API_VERSION,
                               GoVersion=f"python{v.python_version}")
            components.append({"Name": c.name, "Version": c.version, "Details": details})
        return json_response({
            "Platform": {"Name": "pyd engine"}, "Components": components,
            "Version": v.version, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": v.git_commit,
            # Docker reports its Go toolchain here; pyd's is the Python it runs on.
            "GoVersion": f"python{v.python_version}", "Os": v.os, "Arch": v.arch,
            "KernelVersion": v.kernel_version, "Experimental": True, "BuildTime": ""})

    async def info(self, request: web.Request) -> web.StreamResponse:
        from pyd_dockerd.daemon.info import system_info

        i = await blocking(system_info, self.d)
        try:
            cd_version, cd_commit = await blocking(self.d.containerd.version)
        except Exception:
            cd_version, cd_commit = "", ""
        rt = await blocking(self.d.components.get, "runtime")
        return json_response({
            "ID": i.id, "Containers": i.containers, "ContainersRunning": i.containers_running,
            "ContainersPaused": i.containers_paused,
            "ContainersStopped": i.containers_stopped, "Images": i.images,
            "Driver": i.driver, "DriverStatus": [["Backing Filesystem", "extfs"],
                                                 ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                        "Authorization": None, "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
            "Debug": i.debug, "NFd": 0, "OomKillDisable": False, "NGoroutines": 0,
            "SystemTime": datetime.now(UTC).astimezone().isoformat(),
            "LoggingDriver": i.logging_driver, "CgroupDriver": i.cgroup_driver,
            "CgroupVersion": i.cgroup_version, "NEventsListener": 0,
            "KernelVersion": i.kernel_version, "OperatingSystem": i.operating_system,
            "OSVersion": "", "OSType": i.os_type, "Architecture": i.architecture,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {},
                               "Mirrors": []},
            "NCPU": i.ncpu, "MemTotal": i.mem_total, "GenericResources": None,
            "DockerRootDir": i.docker_root_dir, "HttpProxy": "", "HttpsProxy": "",
            "NoProxy": "", "Name": i.name, "Labels": [], "ExperimentalBuild": True,
            "ServerVersion": i.server_version,
            "Runtimes": {i.runtime_name: {"path": i.runtime_path}},
            "DefaultRuntime": i.runtime_name,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                      "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": i.live_restore_enabled, "Isolation": "",
            "InitBinary": "", "ContainerdCommit": {"ID": cd_commit or cd_version},
            "RuncCommit": {"ID": rt.details.get("Commit", "")}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "CDISpecDirs": [], "Containerd": {"Address": i.containerd_address,
                                              "Namespaces": {"Containers": "moby",
                                                             "Plugins": "plugins.moby"}},
            "Warnings": i.warnings})

    async def disk_usage(self, request: web.Request) -> web.StreamResponse:
        """moby's getDiskUsage (types.DiskUsage) from daemon/disk_usage.py, as the gRPC
        DataUsage; `type` (API 1.42) limits it to some object types."""
        from pyd_dockerd.daemon.disk_usage import TYPES, data_usage
        from pyd_dockerd.engineapi.router.image import summary

        types = request.query.getall("type", [])
        if not form.version_at_least(request["api_version"], "1.42"):
            types = []
        for t in types:
            if t not in TYPES:
                raise BadParameter(f"unknown object type: {t}")
        want = set(types or TYPES)
        du = await blocking(data_usage, self.d, types)
        doc: dict[str, Any] = {"LayersSize": du.layers_size, "Images": None,
                               "Containers": None, "Volumes": None, "BuildCache": None}
        if "image" in want:
            doc["Images"] = [{**summary(u.info, u.containers), "Size": u.size,
                              "SharedSize": u.shared_size} for u in du.images]
        if "container" in want:
            doc["Containers"] = du.containers
        if "volume" in want:
            doc["Volumes"] = [_volume_usage(v, size) for v, size in du.volumes]
        if "build-cache" in want:
            doc["BuildCache"] = []  # pyd builds nothing, so it caches nothing
        return json_response(doc)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Past events from `since`, then live ones until `until` or the client goes,
        as newline-separated JSON messages (moby's events.Message)."""
        from pyd_dockerd.api.system import _event_matches

        q = request.query
        since = unix_time(q["since"], "since") if q.get("since") else 0
        until = unix_time(q["until"], "until") if q.get("until") else 0
        filters = form.filters(q)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)

        def produce(stop: threading.Event) -> Iterator[Event]:
            for e in self.d.events.subscribe(since, until, stop):
                if _event_matches(e, filters):
                    yield e

        async for e in iterate(produce):
            doc: dict[str, Any] = {"Type": e.type, "Action": e.action,
                                   "Actor": {"ID": e.id, "Attributes": e.attributes},
                                   "scope": "local", "time": e.time_nano // 1_000_000_000,
                                   "timeNano": e.time_nano}
            if e.type == "container":  # the fields API < 1.22 clients still read
                doc.update(status=e.action, id=e.id, **{"from": e.attributes.get("image",
                                                                                 "")})
            await resp.write(json_line(doc))
        await resp.write_eof()
        return resp

