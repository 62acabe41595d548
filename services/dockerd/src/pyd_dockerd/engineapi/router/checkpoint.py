"""/containers/{name}/checkpoints (moby's api/server/router/checkpoint), over
daemon/checkpoint.py. Restores go through `POST /containers/{name}/start?checkpoint=`
(and pyd's `lazy-restore=`) in the container router."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pyd_dockerd.daemon import checkpoint
from pyd_dockerd.engineapi.httputils.stream import blocking
from pyd_dockerd.engineapi.router.container import read_json
from pyd_dockerd.engineapi.router.system import json_response

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route


class CheckpointRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        p = "/containers/{name}/checkpoints"
        return [("GET", p, self.list), ("POST", p, self.create),
                ("DELETE", p + "/{checkpoint}", self.remove)]

    async def create(self, request: web.Request) -> web.StreamResponse:
        """types.CheckpointCreateOptions: CheckpointID, CheckpointDir, Exit (the CLI's
        --leave-running=false)."""
        body = await read_json(request)
        await blocking(checkpoint.create, self.d, request.match_info["name"],
                       body.get("CheckpointID") or "",
                       checkpoint_dir=body.get("CheckpointDir") or "",
                       leave_running=not body.get("Exit", False))
        return web.Response(status=201)

    async def list(self, request: web.Request) -> web.StreamResponse:
        cps = await blocking(checkpoint.list_checkpoints, self.d, request.match_info["name"],
                             request.query.get("dir", ""))
        return json_response([{"Name": cp.name} for cp in cps])

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await blocking(checkpoint.remove, self.d, request.match_info["name"],
                       request.match_info["checkpoint"], request.query.get("dir", ""))
        return web.Response(status=204)
