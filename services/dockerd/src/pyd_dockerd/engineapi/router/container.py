"""/containers/... (moby's api/server/router/container): create, start, stop, kill,
remove, list, inspect, wait, logs, attach, resize, stats, update, export and friends,
over the same daemon modules (daemon/create.py, start.py, stop.py, delete.py,
stats.py, update.py, export.py ...) the gRPC servicer calls."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from pyd_dockerd.container import view
from pyd_dockerd.container.container import Container
from pyd_dockerd.daemon import archive, create, delete, stats, stop, top
from pyd_dockerd.daemon import export as exporting
from pyd_dockerd.daemon import start as starting
from pyd_dockerd.daemon import update as updating
from pyd_dockerd.engineapi.httputils import form, stdcopy
from pyd_dockerd.engineapi.httputils.errors import BadParameter
from pyd_dockerd.engineapi.httputils.hijack import MULTIPLEXED_STREAM, RAW_STREAM, hijack
from pyd_dockerd.engineapi.httputils.stream import (
    blocking,
    iterate,
    json_line,
    long_running,
    sync_chunks,
)
from pyd_dockerd.engineapi.router.system import json_response, rfc3339, unix_time
from pyd_dockerd.ioutils import ChunkReader
from pyd_dockerd.logs import jsonfile
from pyd_proto.errdefs import NotFound

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
# How long one blocking wait slice lasts: a handler cancelled by a client that left
# frees its thread within this.
WAIT_SLICE = 1.0
KILL_WAIT = 10.0

T = TypeVar("T")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body ({} when empty), or Docker's 400."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise BadParameter(f"invalid JSON: {e}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadParameter("invalid JSON: expected an object")
    return doc


def _without_nulls(d: dict[str, Any] | None) -> dict[str, Any]:
    """Docker clients send every field, null when unset; the core reads absent ones."""
    return {k: v for k, v in (d or {}).items() if v is not None}


def stream_media_type(request: web.Request, tty: bool) -> str:
    """Raw for a TTY; multiplexed otherwise, named so from API 1.42 (moby)."""
    if tty or not form.version_at_least(request["api_version"], "1.42"):
        return RAW_STREAM
    return MULTIPLEXED_STREAM


def inspect_doc(c: Container) -> dict[str, Any]:
    """`docker inspect` of a container, with the defaults moby fills at create (pyd's
    logs are always json-file)."""
    doc = c.to_inspect()
    hc = dict(doc.get("HostConfig") or {})
    log_config = dict(hc.get("LogConfig") or {})
    if not log_config.get("Type"):
        log_config["Type"] = "json-file"
    log_config.setdefault("Config", {})
    hc["LogConfig"] = log_config
    hc.setdefault("NetworkMode", "bridge")
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    doc["HostConfig"] = hc
    cfg = dict(doc.get("Config") or {})
    for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout",
                "AttachStderr"):
        cfg.setdefault(key, False)
    doc["Config"] = cfg
    return doc


class ContainerRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d
        self._stdin = StdinWriters()

    def routes(self) -> list[Route]:
        p = "/containers/{name}"
        return [
            ("GET", "/containers/json", self.list),
            ("POST", "/containers/create", self.create),
            ("POST", "/containers/prune", self.prune),
            ("GET", p + "/json", self.inspect),
            ("POST", p + "/start", self.start),
            ("POST", p + "/stop", self.stop),
            ("POST", p + "/restart", self.restart),
            ("POST", p + "/kill", self.kill),
            ("POST", p + "/pause", self.pause),
            ("POST", p + "/unpause", self.unpause),
            ("POST", p + "/rename", self.rename),
            ("DELETE", p, self.remove),
            ("POST", p + "/wait", self.wait),
            ("GET", p + "/logs", self.logs),
            ("GET", p + "/top", self.top),
            ("POST", p + "/attach", self.attach),
            ("POST", p + "/resize", self.resize),
            ("HEAD", p + "/archive", self.archive_stat),
            ("GET", p + "/archive", self.archive_get),
            ("PUT", p + "/archive", self.archive_put),
            ("GET", p + "/stats", self.stats),
            ("POST", p + "/update", self.update),
            ("GET", p + "/export", self.export),
        ]

    async def _get(self, request: web.Request) -> Container:
        return await blocking(self.d.containers.get, request.match_info["name"])

    # ------------------------------------------------------------------ records
    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        host_config = _without_nulls(body.pop("HostConfig", None))
        networking = body.pop("NetworkingConfig", None) or {}
        endpoints = dict(networking.get("EndpointsConfig") or {}) or None
        # moby's postContainersCreate: "default" is the OS's default network, bridge.
        if host_config.get("NetworkMode", "default") in ("", "default"):
            host_config["NetworkMode"] = "bridge"
            if endpoints and "default" in endpoints:
                endpoints["bridge"] = endpoints.pop("default")
        c = await blocking(create.create, self.d, request.query.get("name", ""),
                           _without_nulls(body), host_config, endpoints)
        return json_response({"Id": c.id, "Warnings": []}, 201)

    async def list(self, request: web.Request) -> web.StreamResponse:
        q = request.query

        def run() -> list[dict[str, Any]]:
            found = view.filter_containers(self.d.containers.list(), form.filters(q),
                                           all=form.bool_value(q, "all"),
                                           limit=form.int_value(q, "limit", 0) or 0,
                                           resolve=self.d.containers.get)
            return [view.summary(c) for c in found]

        return json_response(await blocking(run))

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        c = await self._get(request)
        return json_response(inspect_doc(c))

    async def remove(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        await blocking(delete.remove, self.d, request.match_info["name"],
                       force=form.bool_value(q, "force"), volumes=form.bool_value(q, "v"))
        return web.Response(status=204)

    async def rename(self, request: web.Request) -> web.StreamResponse:
        def run() -> None:
            c = self.d.containers.rename(request.match_info["name"],
                                         request.query.get("name", ""))
            self.d.events.emit("container", "rename", c.id, {"name": c.name})

        await blocking(run)
        return web.Response(status=204)

    async def prune(self, request: web.Request) -> web.StreamResponse:
        filters = form.filters(request.query)

        def run() -> list[str]:
            deleted = []
            for c in view.filter_containers(self.d.containers.list(), filters, all=True):
                if c.state.running or c.state.restarting:
                    continue
                delete.remove(self.d, c.id)
                deleted.append(c.id)
            return deleted

        return json_response({"ContainersDeleted": await blocking(run) or None,
                              "SpaceReclaimed": 0})

    # ---------------------------------------------------------------- lifecycle
    async def start(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        checkpoint = q.get("checkpoint", "")
        lazy_restore = q.get("lazy-restore", "")
        c = await self._get(request)
        if c.state.running and not (checkpoint or lazy_restore):
            return web.Response(status=304)  # moby: already started
        await blocking(starting.start, self.d, c.id, checkpoint=checkpoint,
                       checkpoint_dir=q.get("checkpoint-dir", ""), lazy_restore=lazy_restore)
        return web.Response(status=204)

    async def stop(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        c = await self._get(request)
        if not c.state.running:
            return web.Response(status=304)  # moby: already stopped
        await blocking(stop.stop, self.d, c.id, form.int_value(q, "t"), q.get("signal", ""))
        return web.Response(status=204)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        await blocking(stop.restart, self.d, request.match_info["name"],
                       form.int_value(request.query, "t"))
        return web.Response(status=204)

    async def kill(self, request: web.Request) -> web.StreamResponse:
        sig = request.query.get("signal", "") or "SIGKILL"

        def run() -> None:
            c = self.d.containers.get(request.match_info["name"])
            stop.kill(self.d, c.id, sig)
            # moby's Kill: a SIGKILL returns once the container is down, so the next
            # command (rm, start) finds it stopped.
            if stop.parse_signal(sig) == signal.SIGKILL:
                self.d.monitor.wait_stopped(c.id, KILL_WAIT)

        await blocking(run)
        return web.Response(status=204)

    async def pause(self, request: web.Request) -> web.StreamResponse:
        await blocking(stop.pause, self.d, request.match_info["name"])
        return web.Response(status=204)

    async def unpause(self, request: web.Request) -> web.StreamResponse:
        await blocking(stop.unpause, self.d, request.match_info["name"])
        return web.Response(status=204)

    async def top(self, request: web.Request) -> web.StreamResponse:
        from pyd_proto.errdefs import FailedPrecondition

        c = await self._get(request)
        if not c.state.running:
            raise FailedPrecondition(f"Container {c.id} is not running")
        titles, rows = await blocking(top.top, self.d.containerd.task_pids(c.id),
                                      request.query.get("ps_args", ""))
        return json_response({"Titles": titles, "Processes": rows})

    async def resize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        height, width = form.int_value(q, "h", 0) or 0, form.int_value(q, "w", 0) or 0
        c = await self._get(request)
        await blocking(self.d.containerd.resize_pty, c.id, width, height)
        return web.Response(status=200)

    # ---------------------------------------------------------------- resources
    async def stats(self, request: web.Request) -> web.StreamResponse:
        """moby's getContainersStats: a JSON stream of StatsJSON, one a second, or
        with stream=false a single one (after a first sample that primes
        precpu_stats, unless one-shot), from daemon/stats.py as the gRPC Stats."""
        q = request.query
        follow = form.bool_value_or_default(q, "stream", True)
        one_shot = (form.version_at_least(request["api_version"], "1.41")
                    and form.bool_value_or_default(q, "one-shot", False))
        if follow and one_shot:
            raise BadParameter("cannot have stream=true and one-shot=true")
        name = request.match_info["name"]

        def produce(stop_: threading.Event) -> Iterator[dict[str, Any]]:
            for c, cur, prev in stats.stream(self.d, name, follow=follow,
                                             one_shot=one_shot, stopped=stop_.is_set):
                yield stats_json(stats.to_dict(c, cur, prev))

        resp = web.StreamResponse()
        resp.content_type = "application/json"
        async with _first_then(iterate(produce)) as docs:
            await resp.prepare(request)
            async for doc in docs:
                await resp.write(json_line(doc))
        await resp.write_eof()
        return resp

    async def update(self, request: web.Request) -> web.StreamResponse:
        """moby's postContainerUpdate: container.UpdateConfig (the Resources fields and
        RestartPolicy) into daemon/update.py, live on a running container."""
        body = await read_json(request)
        policy = body.pop("RestartPolicy", None)
        resources = _without_nulls(body)
        if not form.version_at_least(request["api_version"], "1.40"):
            resources.pop("PidsLimit", None)  # moby: not part of the API before 1.40
        warnings = await blocking(updating.update, self.d, request.match_info["name"],
                                  resources, policy if isinstance(policy, dict) else None)
        # A Go nil slice: null when there is nothing to warn about.
        return json_response({"Warnings": warnings or None})

    async def export(self, request: web.Request) -> web.StreamResponse:
        """moby's getContainersExport: the container's filesystem as a tar stream
        (daemon/export.py, as the gRPC Export)."""
        name = request.match_info["name"]
        resp = web.StreamResponse()
        resp.content_type = "application/x-tar"
        async with _first_then(iterate(lambda stop_: exporting.export(self.d, name))) as chunks:
            await resp.prepare(request)
            async for chunk in chunks:
                await resp.write(chunk)
        await resp.write_eof()
        return resp

    # ---------------------------------------------------------------- docker cp
    async def _path_stat(self, request: web.Request) -> tuple[Container, str, str]:
        """The container, the path asked for, and moby's X-Docker-Container-Path-Stat
        header (base64 of the JSON path stat)."""
        path = request.query.get("path", "")
        if not path:
            raise BadParameter("path is required")
        c = await self._get(request)

        def run() -> archive.PathStat:
            with archive.container_root(self.d, c) as root:
                return archive.stat_path(root, path)

        st = await blocking(run)
        doc = {"name": st.name, "size": st.size, "mode": st.mode,
               "mtime": st.mtime.astimezone(UTC).isoformat().replace("+00:00", "Z"),
               "linkTarget": st.link_target}
        return c, path, base64.b64encode(json.dumps(doc).encode()).decode()

    async def archive_stat(self, request: web.Request) -> web.StreamResponse:
        _, _, header = await self._path_stat(request)
        return web.Response(headers={"X-Docker-Container-Path-Stat": header})

    async def archive_get(self, request: web.Request) -> web.StreamResponse:
        c, path, header = await self._path_stat(request)
        resp = web.StreamResponse(headers={"X-Docker-Container-Path-Stat": header})
        resp.content_type = "application/x-tar"
        await resp.prepare(request)

        def produce(stop_: threading.Event) -> Iterator[bytes]:
            with archive.container_root(self.d, c) as root:
                yield from archive.tar_out(root, path)

        async for chunk in iterate(produce):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def archive_put(self, request: web.Request) -> web.StreamResponse:
        from pyd_proto.errdefs import FailedPrecondition

        path = request.query.get("path", "")
        if not path:
            raise BadParameter("path is required")
        c = await self._get(request)
        if c.host_config.get("ReadonlyRootfs"):
            raise FailedPrecondition("container rootfs is marked read-only")
        loop = asyncio.get_running_loop()

        def run() -> None:
            with archive.container_root(self.d, c) as root:
                archive.tar_in(root, path, ChunkReader(sync_chunks(request.content.readany,
                                                                   loop)))

        await blocking(run)
        return web.Response(status=200)

    # ------------------------------------------------------------------- waits
    async def wait(self, request: web.Request) -> web.StreamResponse:
        """moby's postContainersWait: the wait is registered and the headers go out at
        once (the CLI starts the container only after it has them); the body, with the
        exit code, is written when the condition is met."""
        condition = request.query.get("condition") or "not-running"
        if condition not in WAIT_CONDITIONS:
            raise BadParameter(f"invalid condition: {condition!r}")
        c = await self._get(request)
        generation = self.d.monitor.generation(c.id)
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        long_running()
        while True:
            try:
                code = await blocking(self.d.monitor.wait, c.id, condition, WAIT_SLICE,
                                      generation)
            except NotFound:
                # Exited and removed between two slices: the exit code it had.
                code = self.d.monitor.wait(c.id, "removed", 0)
            if code is not None:
                break
        await resp.write(json.dumps({"StatusCode": code}).encode() + b"\n")
        await resp.write_eof()
        return resp

    # -------------------------------------------------------------------- output
    async def logs(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        want = {s for s in ("stdout", "stderr") if form.bool_value(q, s)}
        if not want:
            raise BadParameter("Bad parameters: you must choose at least one stream")
        c = await self._get(request)
        follow, timestamps = form.bool_value(q, "follow"), form.bool_value(q, "timestamps")
        tail = -1
        if q.get("tail", "all") not in ("", "all"):
            tail = form.int_value(q, "tail", -1) or 0
        since = _time(q, "since")
        until = _time(q, "until")
        tty = bool(c.config.get("Tty"))
        resp = web.StreamResponse()
        resp.content_type = stream_media_type(request, tty)
        await resp.prepare(request)

        def running() -> bool:
            try:
                return self.d.containers.get(c.id).state.running
            except NotFound:
                return False

        def produce(stop_: threading.Event) -> Iterator[jsonfile.Entry]:
            return jsonfile.read(c.log_path, since=since, until=until, tail=tail,
                                 follow=follow, running=running, stopped=stop_.is_set)

        async for e in iterate(produce):
            if e.stream not in want:
                continue
            data = e.data
            if timestamps:
                data = jsonfile.format_time(e.time).encode() + b" " + data
            await resp.write(data if tty else stdcopy.frame(stdcopy.STREAMS[e.stream], data))
        await resp.write_eof()
        return resp

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """moby's postContainersAttach: after the upgrade, the container's output from
        now on (with `logs`, from its start) and, for a container made with -i, the
        client's bytes into its stdin; the connection ends when the container does."""
        q = request.query
        c = await self._get(request)
        want = {s for s in ("stdout", "stderr") if form.bool_value(q, s)}
        use_stdin = form.bool_value(q, "stdin") and bool(c.config.get("OpenStdin"))
        follow = form.bool_value(q, "stream")
        tty = bool(c.config.get("Tty"))
        # Fixed before the 101 goes out: from then on the client may start the container.
        offset = 0 if form.bool_value(q, "logs") else jsonfile.size(c.log_path)
        generation = self.d.monitor.generation(c.id)
        was_running = c.state.running
        conn = await hijack(request, stream_media_type(request, tty))
        loop = asyncio.get_running_loop()
        stdin_done = threading.Event()
        if use_stdin:
            threading.Thread(target=self._forward_stdin, daemon=True,
                             args=(c, sync_chunks(conn.read, loop), stdin_done),
                             name=f"attach-stdin-{c.id[:12]}").start()
        else:
            drain = asyncio.ensure_future(_drain(conn.read))

        def done() -> bool:
            try:
                cur = self.d.containers.get(c.id)
            except NotFound:
                return True
            if cur.state.status.value in ("running", "paused", "restarting", "created"):
                return False
            # An exited container being attached before `start` waits for its next run.
            return was_running or self.d.monitor.generation(c.id) != generation

        def produce(stop_: threading.Event) -> Iterator[jsonfile.Entry]:
            if not follow:
                return jsonfile.read(c.log_path, tail=-1) if offset == 0 else iter(())
            return jsonfile.follow_from(c.log_path, offset,
                                        lambda: stop_.is_set() or conn.closed or done())

        try:
            async for e in iterate(produce):
                if e.stream not in want:
                    continue
                data = e.data if tty else stdcopy.frame(stdcopy.STREAMS[e.stream], e.data)
                if not await conn.write(data):
                    break
        finally:
            stdin_done.set()
            if not use_stdin:
                drain.cancel()
            conn.release()
            if use_stdin:  # the container may have ended: its kept writer goes too
                threading.Thread(target=self._stdin.prune, args=(self.d,),
                                 daemon=True).start()
        return conn.response

    def _forward_stdin(self, c: Container, chunks: Iterator[bytes],
                       done: threading.Event) -> None:
        """Client bytes into the container's stdin fifo. The client's EOF closes the
        container's stdin only when it was made with StdinOnce and no TTY (moby's rule:
        `run -i` gets EOF; `run -it` outlives its client detaching, and a later attach
        still reaches it through the writer kept open)."""
        fd = self._stdin.writer(self.d, c, done)
        if fd is None:
            return
        try:
            for chunk in chunks:
                view_ = memoryview(chunk)
                while view_:
                    try:
                        n = os.write(fd, view_)
                    except BlockingIOError:
                        if done.wait(0.01):
                            return
                        continue
                    view_ = view_[n:]
        except OSError:  # the reader went away (the container ended)
            self._stdin.close(c.id)
            return
        if c.config.get("StdinOnce") and not c.config.get("Tty"):
            self._stdin.close(c.id)
            with contextlib.suppress(Exception):
                self.d.containerd.close_stdin(c.id)


class StdinWriters:
    """One write end of each attached container's stdin fifo, kept across attaches as
    containerd's shim keeps one: when a client detaches, the shim's copier must not
    see EOF (it would stop copying, and no later attach could type into the container).
    Closed at StdinOnce's EOF, on a write error, and once the container is gone."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def writer(self, d: Daemon, c: Container, stop: threading.Event) -> int | None:
        self.prune(d)
        with self._lock:
            fd = self._fds.get(c.id)
        if fd is not None:
            return fd
        fd = _open_writer(d.stdin_fifo(c), stop)
        if fd is None:
            return None
        with self._lock:
            if c.id in self._fds:  # another attach opened one meanwhile
                os.close(fd)
                return self._fds[c.id]
            self._fds[c.id] = fd
        return fd

    def close(self, container_id: str) -> None:
        with self._lock:
            fd = self._fds.pop(container_id, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def prune(self, d: Daemon) -> None:
        """Drop the writers of containers that ended or were removed: the next start
        gives the container a new reader, and a new writer follows."""
        with self._lock:
            ids = list(self._fds)
        for cid in ids:
            try:
                alive = d.containers.get(cid).state.running
            except NotFound:
                alive = False
            if not alive:
                self.close(cid)


def _open_writer(path: str, stop: threading.Event) -> int | None:
    """The fifo's write end, once the shim holds its read end (before `start` it does
    not yet); None when the attach ended first."""
    while not stop.is_set():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno not in (errno.ENXIO, errno.ENOENT):
                return None
        time.sleep(0.05)
    return None


async def _drain(read: Any) -> None:
    """Read and drop what a client without stdin sends, so its EOF is seen."""
    while await read():
        pass


@contextlib.asynccontextmanager
async def _first_then(items: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """`items` with its first one already produced: a stream whose first step fails
    (no such container, nothing to export) answers Docker's error status, since no
    header has been sent yet."""
    head: list[T] = []
    with contextlib.suppress(StopAsyncIteration):
        head.append(await anext(items))

    async def chained() -> AsyncIterator[T]:
        for item in head:
            yield item
        async for item in items:
            yield item

    try:
        yield chained()
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:  # iterate()'s generator: its producer stops
            await aclose()


# Go's zero values for types.StatsJSON: encoding/json writes every field that has no
# omitempty, and the docker CLI and docker-py read what is there.
_ZERO_CPU: dict[str, Any] = {
    "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
_BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive",
               "io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
               "io_merged_recursive", "io_time_recursive", "sectors_recursive")
_ZERO_TIME = "0001-01-01T00:00:00Z"


def stats_json(doc: dict[str, Any]) -> dict[str, Any]:
    """daemon/stats.to_dict's message as moby encodes types.StatsJSON: times in RFC
    3339, empty sections present (a stopped container's message is all zeros)."""
    def cpu(section: dict[str, Any] | None) -> dict[str, Any]:
        out = {k: dict(v) for k, v in _ZERO_CPU.items()}
        for k, v in (section or {}).items():
            out[k] = {**out[k], **v} if isinstance(v, dict) and k in out else v
        return out

    def when(value: Any) -> str:
        return rfc3339(value) if isinstance(value, datetime) else _ZERO_TIME

    blkio = doc.get("blkio_stats") or {}
    out: dict[str, Any] = {
        "name": doc.get("name", ""), "id": doc.get("id", ""),
        "read": when(doc.get("read")), "preread": when(doc.get("preread")),
        "pids_stats": dict(doc.get("pids_stats") or {}),
        "blkio_stats": {k: blkio.get(k) or None for k in _BLKIO_KEYS},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu(doc.get("cpu_stats")), "precpu_stats": cpu(doc.get("precpu_stats")),
        "memory_stats": dict(doc.get("memory_stats") or {})}
    if doc.get("networks") is not None:
        out["networks"] = doc["networks"]
    return out


def _time(q: Any, name: str) -> datetime | None:
    raw = q.get(name, "")
    if not raw or raw == "0":
        return None
    return datetime.fromtimestamp(unix_time(raw, name) / 1e9, UTC)
