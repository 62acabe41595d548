"""/volumes/... (moby's api/server/router/volume), over the volume store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from pyd_dockerd.engineapi.httputils import form
from pyd_dockerd.engineapi.httputils.stream import blocking
from pyd_dockerd.engineapi.router.container import read_json
from pyd_dockerd.engineapi.router.system import json_response

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route


class VolumeRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        return [("GET", "/volumes", self.list), ("POST", "/volumes/create", self.create),
                ("POST", "/volumes/prune", self.prune),
                ("GET", "/volumes/{name}", self.inspect),
                ("DELETE", "/volumes/{name}", self.remove)]

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)

        def run() -> list[dict[str, Any]]:
            return [v.to_json() for v in self.d.volumes.list_volumes(filters)]

        return json_response({"Volumes": await blocking(run), "Warnings": None})

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        v = await blocking(self.d.volumes.create, body.get("Name") or "",
                           driver=body.get("Driver") or "local",
                           driver_opts=body.get("DriverOpts") or {},
                           labels=body.get("Labels") or {})
        return json_response(v.to_json(), 201)

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        v = await blocking(self.d.volumes.get, request.match_info["name"])
        return json_response(v.to_json())

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await blocking(self.d.volumes.remove, request.match_info["name"],
                       force=form.bool_value(request.query, "force"))
        return web.Response(status=204)

    async def prune(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)
        all_volumes = any(v.lower() in ("1", "true") for v in filters.get("all", []))
        removed, reclaimed = await blocking(self.d.volumes.prune, all_volumes=all_volumes,
                                            labels=filters.get("label"))
        return json_response({"VolumesDeleted": removed or None,
                              "SpaceReclaimed": reclaimed})
