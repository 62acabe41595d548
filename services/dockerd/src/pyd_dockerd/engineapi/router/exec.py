"""/containers/{name}/exec and /exec/{id}/... (moby's api/server/router/container
exec routes): create, start (hijacked unless detached), resize, inspect, over
daemon/exec.py as the gRPC servicer uses it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pyd_dockerd.daemon import exec as execs
from pyd_dockerd.engineapi.httputils import form, stdcopy
from pyd_dockerd.engineapi.httputils.hijack import hijack
from pyd_dockerd.engineapi.httputils.stream import blocking, iterate, sync_chunks
from pyd_dockerd.engineapi.router.container import read_json, stream_media_type
from pyd_dockerd.engineapi.router.system import json_response

if TYPE_CHECKING:
    from pyd_dockerd.daemon.daemon import Daemon
    from pyd_dockerd.engineapi.app import Route

# A resize that arrives before the exec's process exists waits this long for it.
RESIZE_WAIT = 5.0


class ExecRouter:
    def __init__(self, d: Daemon) -> None:
        self.d = d

    def routes(self) -> list[Route]:
        return [("POST", "/containers/{name}/exec", self.create),
                ("POST", "/exec/{id}/start", self.start),
                ("POST", "/exec/{id}/resize", self.resize),
                ("GET", "/exec/{id}/json", self.inspect)]

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        cfg = execs.ExecConfig(
            id="", container_id="", cmd=list(body.get("Cmd") or []),
            env=list(body.get("Env") or []), user=body.get("User") or "",
            working_dir=body.get("WorkingDir") or "",
            privileged=bool(body.get("Privileged")), tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")),
            attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")),
            detach_keys=body.get("DetachKeys") or "")
        e = await blocking(execs.create, self.d, request.match_info["name"], cfg)
        return json_response({"Id": e.id}, 201)

    async def start(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        exec_id = request.match_info["id"]
        e = self.d.execs.get(exec_id)  # 404 before any upgrade, as moby
        if body.get("Detach"):
            await blocking(lambda: list(execs.start(self.d, exec_id, None, detach=True)))
            return web.Response(status=200)
        tty = bool(body.get("Tty", e.tty))
        console = body.get("ConsoleSize") or []
        conn = await hijack(request, stream_media_type(request, tty))
        loop = asyncio.get_running_loop()
        stdin: Iterator[bytes] | None = None
        drain = None
        if e.attach_stdin:
            stdin = sync_chunks(conn.read, loop)
        else:
            drain = asyncio.ensure_future(_drain(conn.read))
        sizer = None
        if tty and len(console) == 2 and all(isinstance(v, int) and v > 0 for v in console):
            sizer = asyncio.ensure_future(blocking(self._resize_when_running, e,
                                                   console[1], console[0]))

        def produce(stop: threading.Event) -> Iterator[tuple[str, bytes]]:
            return execs.start(self.d, exec_id, stdin, detach=False)

        try:
            async for name, data in iterate(produce):
                if (name == "stdout" and not e.attach_stdout) or (
                        name == "stderr" and not e.attach_stderr):
                    continue
                out = data if tty else stdcopy.frame(stdcopy.STREAMS[name], data)
                if not await conn.write(out):
                    break
        except Exception as err:  # after the upgrade, errors travel in the stream (moby)
            from pyd_dockerd.daemon.start import _exit_code_for

            if e.exit_code is None:  # never ran: 126/127 as Docker reports it
                e.exit_code = _exit_code_for(str(err))
            text = f"{err}\r\n".encode()
            await conn.write(text if tty else stdcopy.frame(stdcopy.STDOUT, text))
        finally:
            for task in (drain, sizer):
                if task is not None:
                    task.cancel()
            conn.release()
        return conn.response

    def _resize_when_running(self, e: execs.ExecConfig, width: int, height: int) -> None:
        deadline = time.monotonic() + RESIZE_WAIT
        while not e.running and e.exit_code is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if e.running:
            self.d.containerd.resize_pty(e.container_id, width, height, e.id)

    async def resize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        e = self.d.execs.get(request.match_info["id"])
        width, height = form.int_value(q, "w", 0) or 0, form.int_value(q, "h", 0) or 0
        await blocking(self._resize_when_running, e, width, height)
        return web.Response(status=200)

    async def inspect(self, request: web.Request) -> web.StreamResponse:
        e = self.d.execs.get(request.match_info["id"])
        doc: dict[str, Any] = {
            "ID": e.id, "Running": e.running, "ExitCode": e.exit_code,
            "ProcessConfig": {"tty": e.tty, "entrypoint": e.cmd[0] if e.cmd else "",
                              "arguments": list(e.cmd[1:]), "privileged": e.privileged,
                              "user": e.user},
            "OpenStdin": e.attach_stdin, "OpenStderr": e.attach_stderr,
            "OpenStdout": e.attach_stdout, "CanRemove": False,
            "ContainerID": e.container_id, "DetachKeys": e.detach_keys, "Pid": e.pid}
        return json_response(doc)


async def _drain(read: Any) -> None:
    with contextlib.suppress(Exception):
        while await read():
            pass
