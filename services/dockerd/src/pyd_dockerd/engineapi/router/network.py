"""/networks/... (moby's api/server/router/network), over the network controller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from pyd_dockerd.engineapi.httputils import form
from pyd_dockerd.engineapi.httputils.errors import BadParameter
from pyd_dockerd.engineapi.httputils.stream import blocking
from pyd_dockerd.engineapi.router.container import read_json
from pyd_dockerd.engineapi.router.system import json_response
from pyd_dockerd.network.controller import filter_networks

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route


class NetworkRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        return [("GET", "/networks", self.list), ("GET", "/networks/", self.list),
                ("POST", "/networks/create", self.create),
                ("POST", "/networks/prune", self.prune),
                ("GET", "/networks/{id}", self.inspect),
                ("DELETE", "/networks/{id}", self.remove),
                ("POST", "/networks/{id}/connect", self.connect),
                ("POST", "/networks/{id}/disconnect", self.disconnect)]

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)
        ctl = self.d.network

        def run() -> list[dict[str, Any]]:
            nets = ctl.list_networks()
            members = ({n.id: len(ctl.endpoints_on(n.id)) for n in nets}
                       if "dangling" in filters else None)
            return [ctl.network_json(n) for n in filter_networks(nets, filters, members)]

        return json_response(await blocking(run))

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        return json_response(await blocking(self.d.network.inspect_network,
                                            request.match_info["id"]))

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        name = body.get("Name") or ""
        if not name:
            raise BadParameter("network name is required")
        ipam = body.get("IPAM") or {}
        configs = ipam.get("Config") or [{}]
        if len(configs) > 1:
            raise BadParameter("pyd networks take one IPAM config (one IPv4 subnet)")
        cfg = configs[0] or {}
        net = await blocking(
            self.d.network.create_network, name, driver=body.get("Driver") or "bridge",
            subnet=cfg.get("Subnet") or "", gateway=cfg.get("Gateway") or "",
            ip_range=cfg.get("IPRange") or "", internal=bool(body.get("Internal")),
            attachable=bool(body.get("Attachable")), options=body.get("Options") or {},
            labels=body.get("Labels") or {})
        return json_response({"Id": net.id, "Warning": ""}, 201)

    async def remove(self, request: web.Request) -> web.StreamResponse:
        await blocking(self.d.network.remove_network, request.match_info["id"])
        return web.Response(status=204)

    async def connect(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)

        def run() -> None:
            c = self.d.containers.get(body.get("Container") or "")
            self.d.network.connect(request.match_info["id"], c,
                                   body.get("EndpointConfig") or {})
            self.d.containers.save(c)

        await blocking(run)
        return web.Response(status=200)

    async def disconnect(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)

        def run() -> None:
            c = self.d.containers.get(body.get("Container") or "")
            self.d.network.disconnect(request.match_info["id"], c,
                                      force=bool(body.get("Force")))
            self.d.containers.save(c)

        await blocking(run)
        return web.Response(status=200)

    async def prune(self, request: web.Request) -> web.StreamResponse:
        labels = {}
        for expr in form.filters(request.query).get("label", []):
            k, _, v = expr.partition("=")
            labels[k] = v
        deleted = await blocking(self.d.network.prune_networks, labels)
        return json_response({"NetworksDeleted": deleted or None})
