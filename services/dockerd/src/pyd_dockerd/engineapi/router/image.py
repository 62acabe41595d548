"""/images/... (moby's api/server/router/image): list, inspect, load, import, pull,
save, tag, remove, prune, over the daemon's ImageService and libcontainerd."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pyd_dockerd.engineapi.httputils import form
from pyd_dockerd.engineapi.httputils.errors import BadParameter
from pyd_dockerd.engineapi.httputils.stream import blocking, iterate, json_line, sync_chunks
from pyd_dockerd.engineapi.router.system import json_response
from pyd_dockerd.images import reference
from pyd_dockerd.images.service import ImageInfo
from pyd_proto.errdefs import InvalidArgument, PydError

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route


def _created(i: ImageInfo) -> str:
    return str((i.config or {}).get("created") or "")


def _repo_digests(i: ImageInfo) -> list[str]:
    if not i.target_digest:
        return []
    repos = sorted({t.rsplit(":", 1)[0] for t in i.repo_tags})
    return [f"{r}@{i.target_digest}" for r in repos]


def summary(i: ImageInfo, containers: int) -> dict[str, Any]:
    """One `docker images` row (types.ImageSummary)."""
    created = 0
    if i.created is not None:
        c = i.created if i.created.tzinfo else i.created.replace(tzinfo=UTC)
        created = int(c.timestamp())
    return {"Containers": containers, "Created": created, "Id": i.id,
            "Labels": (i.config.get("config") or {}).get("Labels") or {}, "ParentId": "",
            "RepoDigests": _repo_digests(i), "RepoTags": i.repo_tags, "SharedSize": -1,
            "Size": i.size}


def inspect_doc(i: ImageInfo) -> dict[str, Any]:
    """`docker image inspect` (types.ImageInspect)."""
    cfg = i.config
    return {"Id": i.id, "RepoTags": i.repo_tags, "RepoDigests": _repo_digests(i),
            "Parent": "", "Comment": cfg.get("comment", ""),
            "Created": _created(i) or "0001-01-01T00:00:00Z", "DockerVersion": "",
            "Author": cfg.get("author", ""), "Config": cfg.get("config") or {},
            "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", ""),
            "Size": i.size,
            "GraphDriver": {"Name": "overlayfs", "Data": None},
            "RootFS": {"Type": "layers",
                       "Layers": list((cfg.get("rootfs") or {}).get("diff_ids") or [])},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def _error(message: str) -> bytes:
    """A failure inside a JSON progress stream (jsonmessage's errorDetail)."""
    return json_line({"errorDetail": {"message": message}, "error": message})


class ImageRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        # Names may hold slashes (localhost:5000/team/app): the last segment decides.
        n = "/images/{name:.+}"
        return [("GET", "/images/json", self.list),
                ("POST", "/images/load", self.load),
                ("POST", "/images/create", self.create),
                ("GET", "/images/get", self.save),
                ("POST", "/images/prune", self.prune),
                ("GET", n + "/json", self.inspect),
                ("GET", n + "/get", self.save),
                ("POST", n + "/tag", self.tag),
                ("DELETE", n, self.remove)]

    def _users(self) -> dict[str, int]:
        users: dict[str, int] = {}
        for c in self.d.containers.list():
            users[c.image] = users.get(c.image, 0) + 1
        return users

    async def list(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)

        def run() -> list[dict[str, Any]]:
            users = self._users()
            refs = filters.get("reference", [])
            dangling = filters.get("dangling", [])
            out = []
            for i in self.d.images.list():
                if refs and not any(_ref_matches(r, t) for r in refs for t in i.repo_tags):
                    continue
                if dangling and (dangling[-1].lower() in ("1", "true")) == bool(i.repo_tags):
                    continue
                out.append(summary(i, users.get(i.id, 0)))
            return out

        return json_response(await blocking(run))

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        def run() -> ImageInfo:
            i = self.d.images.get(request.match_info["name"])
            # get() names only what was asked for; RepoTags lists every name.
            i.names = sorted({n for other in self.d.images.list() if other.id == i.id
                              for n in other.names} | set(i.names))
            return i

        return json_response(inspect_doc(await blocking(run)))

    async def load(self, request: web.Request) -> web.StreamResponse:
        """moby's postImagesLoad: the archive streams into containerd; a JSON stream
        names what was loaded."""
        loop = asyncio.get_running_loop()
        names = await blocking(self.d.images.load,
                               sync_chunks(request.content.readany, loop))
        lines = []
        for name in names:
            self.d.events.emit("image", "load", name, {"name": name})
            kind = "Loaded image ID" if name.startswith("sha256:") else "Loaded image"
            lines.append(json_line({"stream": f"{kind}: {name}\n"}))
        return web.Response(body=b"".join(lines), content_type="application/json")

    async def create(self, request: web.Request) -> web.StreamResponse:
        """`docker pull` (fromImage) and `docker import` (fromSrc), both answering a JSON
        progress stream."""
        q = request.query
        if q.get("fromImage"):
            return await self._pull(request, q["fromImage"], q.get("tag", ""))
        if q.get("fromSrc"):
            return await self._import(request)
        raise BadParameter("fromImage or fromSrc is required")

    async def _pull(self, request: web.Request, image: str, tag: str) -> web.StreamResponse:
        if tag:
            image += f"@{tag}" if tag.startswith("sha256:") else f":{tag}"
        name = reference.normalize(image)
        host = name.split("/", 1)[0]
        plain = host.startswith(("localhost", "127.")) or host.endswith(".local")
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        familiar = reference.familiar(name)
        label = name.rsplit("@", 1)[-1] if "@" in name else name.rsplit(":", 1)[-1]
        repo = familiar.rsplit("@", 1)[0]
        repo = repo.rsplit(":", 1)[0] if "@" not in familiar else repo
        await resp.write(json_line({"status": f"Pulling from {repo}", "id": label}))

        def produce(stop: threading.Event) -> Iterator[Any]:
            return self.d.containerd.pull(name, plain_http=plain)

        try:
            async for p in iterate(produce):
                if not p.id:
                    continue
                short = p.id[7:19] if p.id.startswith("sha256:") else p.id
                await resp.write(json_line({"status": p.status, "id": short,
                                            "progressDetail": {"current": p.current,
                                                               "total": p.total}
                                            if p.total else {}}))
            img = await blocking(self.d.images.get, name)
        except PydError as e:
            await resp.write(_error(str(e)))
            await resp.write_eof()
            return resp
        await resp.write(json_line({"status": f"Digest: {img.target_digest}"}))
        await resp.write(json_line({"status": f"Status: Downloaded newer image for "
                                              f"{familiar}"}))
        self.d.events.emit("image", "pull", name, {"name": familiar})
        await resp.write_eof()
        return resp

    async def _import(self, request: web.Request) -> web.StreamResponse:
        from pyd_dockerd.api.images import import_rootfs

        q = request.query
        if q["fromSrc"] != "-":
            raise BadParameter("importing from a URL is not supported by pyd: send the "
                               "archive in the request body (fromSrc=-)")
        loop = asyncio.get_running_loop()
        # The same import as the gRPC Images.Import (api/images.py).
        image_id, _ = await blocking(import_rootfs, self.d,
                                     sync_chunks(request.content.readany, loop),
                                     q.get("repo", ""), q.get("tag", ""),
                                     q.getall("changes", []))
        return web.Response(body=json_line({"status": image_id}),
                            content_type="application/json")

    async def save(self, request: web.Request) -> web.StreamResponse:
        """`docker save`: a docker-save/OCI archive of the named images."""
        asked = ([request.match_info["name"]] if "name" in request.match_info
                 else request.query.getall("names", []))
        if not asked:
            raise BadParameter("no images named")

        def resolve() -> list[str]:
            out = []
            for n in asked:
                img = self.d.images.get(n)
                full = ""
                with contextlib.suppress(InvalidArgument):
                    full = reference.normalize(n)
                # By name: that name; by ID: any name of the image.
                out.append(full if full in img.names else img.names[0])
            return out

        names = await blocking(resolve)
        resp = web.StreamResponse()
        resp.content_type = "application/x-tar"
        await resp.prepare(request)

        def produce(stop: threading.Event) -> Iterator[bytes]:
            return self.d.containerd.export(names)

        async for chunk in iterate(produce):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def tag(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        repo, tag = q.get("repo", ""), q.get("tag", "")
        if not repo:
            raise BadParameter("repository name must have at least one component")
        target = repo + (f":{tag}" if tag else "")

        def run() -> None:
            name = self.d.images.tag(request.match_info["name"], target)
            self.d.events.emit("image", "tag", name, {"name": reference.familiar(name)})

        await blocking(run)
        return web.Response(status=201)

    async def remove(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["name"]
        force = form.bool_value(request.query, "force")

        def run() -> list[dict[str, str]]:
            in_use = {c.image: c.id for c in self.d.containers.list()}
            items = self.d.images.remove(ref, force=force, in_use=in_use)
            self.d.events.emit("image", "delete", ref, {"name": ref})
            return [{kind: what} for kind, what in items]

        return json_response(await blocking(run))

    async def prune(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)
        dangling_only = not any(v.lower() in ("0", "false")
                                for v in filters.get("dangling", []))

        def run() -> list[dict[str, str]]:
            used = {c.image for c in self.d.containers.list()}
            deleted = []
            for i in self.d.images.list():
                if i.id in used or (dangling_only and i.repo_tags):
                    continue
                deleted += [{kind: what} for kind, what in
                            self.d.images.remove(i.id, force=True)]
            return deleted

        return json_response({"ImagesDeleted": await blocking(run) or None,
                              "SpaceReclaimed": 0})


def _ref_matches(pattern: str, tag: str) -> bool:
    """`reference=busybox` or `reference=busybox:1*` (moby matches with path.Match)."""
    import fnmatch

    if ":" not in pattern.rsplit("/", 1)[-1]:
        return fnmatch.fnmatchcase(tag.rsplit(":", 1)[0], pattern)
    return fnmatch.fnmatchcase(tag, pattern)
