"""The Engine API application: every router's routes, each with and without the
`/vX.Y` prefix, behind one middleware that checks the version the client asked for
(moby's VersionMiddleware), turns errors into Docker's `{"message": ...}` bodies with
Docker's status codes, and logs each request with its request id."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from pyd_dockerd import __version__
from pyd_dockerd.engineapi import API_VERSION, MIN_API_VERSION
from pyd_dockerd.engineapi.httputils.errors import BadParameter, status_for
from pyd_dockerd.engineapi.httputils.form import parse_version
from pyd_dockerd.engineapi.httputils.stream import cancel_long_running, json_line
from pyd_proto import logs
from pyd_proto.errdefs import PydError

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon

log = logging.getLogger("pyd.dockerd.engineapi")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]


class Router(Protocol):
    """moby's router.Router: the routes of one area."""

    def routes(self) -> list[Route]: ...


_NEWEST = parse_version(API_VERSION)
_OLDEST = parse_version(MIN_API_VERSION)


def make_app(core: Daemon) -> web.Application:
    """The application serving `core`, every route under both spellings."""
    from pyd_dockerd.engineapi.router import (
        checkpoint,
        container,
        exec,
        image,
        network,
        system,
        volume,
    )

    # client_max_size=0: bodies (image tarballs) are streamed, never held whole.
    app = web.Application(middlewares=[middleware], client_max_size=0)
    routers: list[Router] = [
        system.SystemRouter(core), container.ContainerRouter(core), exec.ExecRouter(core),
        image.ImageRouter(core), network.NetworkRouter(core), volume.VolumeRouter(core),
        checkpoint.CheckpointRouter(core)]
    for r in routers:
        for method, path, handler in r.routes():
            for prefix in ("", "/{version:v[0-9]+[.][0-9]+}"):
                app.router.add_route(method, prefix + path, handler)
    app.on_response_prepare.append(common_headers)
    app.on_shutdown.append(cancel_long_running)
    return app


async def common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """What moby's middlewares put on every response; the CLI reads them from
    /_ping (it offers `checkpoint` only with Docker-Experimental: true)."""
    h = response.headers
    h.setdefault("API-Version", API_VERSION)
    h.setdefault("Docker-Experimental", "true")
    h.setdefault("OSType", "linux")
    h["Server"] = f"pyd-dockerd/{__version__} (linux)"


def check_version(request: web.Request) -> str:
    """The API version of this request: its `/vX.Y` prefix, else the newest."""
    asked = request.match_info.get("version", "").removeprefix("v")
    if not asked:
        return API_VERSION
    v = parse_version(asked)
    if v > _NEWEST:
        raise BadParameter(f"client version {asked} is too new. Maximum supported API "
                           f"version is {API_VERSION}")
    if v < _OLDEST:
        raise BadParameter(f"client version {asked} is too old. Minimum supported API "
                           f"version is {MIN_API_VERSION}, please upgrade your client to a "
                           "newer version")
    return asked


def error_response(status: int, message: str) -> web.Response:
    """Docker's error body: `{"message": "..."}`."""
    return web.Response(status=status, body=json_line({"message": message}),
                        content_type="application/json")


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:12]
    token = logs.request_id.set(rid)
    start = time.monotonic()
    status, error = 500, ""
    try:
        try:
            request["api_version"] = check_version(request)
            resp = await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            # Unknown routes, and known ones with another method, are "page not
            # found" as in moby (its router sends both to the not-found handler).
            status_ = 404 if e.status == 405 else e.status
            resp = error_response(status_, "page not found" if status_ == 404 else
                                  (e.text or e.reason))
        except PydError as e:
            error = str(e)
            resp = error_response(status_for(e), error)
        except (ConnectionError, asyncio.CancelledError):
            status = 499  # the client went away (logged as nginx does)
            raise
        except Exception as e:
            log.exception("request failed", extra={"method": request.method,
                                                   "path": request.path})
            error = f"{type(e).__name__}: {e}"
            resp = error_response(500, error)
        status = resp.status
        return resp
    finally:
        log.log(logging.DEBUG if status < 400 else logging.INFO, "request",
                extra={"method": request.method, "path": request.path, "code": status,
                       "ms": round((time.monotonic() - start) * 1000, 2),
                       **({"error": error} if error else {})})
        logs.request_id.reset(token)
