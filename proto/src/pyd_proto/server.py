"""The one server bootstrap every pyd daemon uses.

A daemon builds a `Daemon`, registers its servicers, then `run()`s it. The
bootstrap owns what every daemon must do the same way: the unix socket (0660,
group `pyd` when it exists, a stale socket from a killed predecessor removed,
a live one refused), gRPC server reflection and the standard health service,
a per-request id in the logs, SIGTERM/SIGINT → graceful stop, sd_notify
READY=1 / STATUS= / STOPPING=1 (a no-op when not under systemd), and sockets passed
by systemd socket activation (`serve_listeners`, relayed: see pyd_proto.activation).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from pyd_proto import logs
from pyd_proto.activation import Relay, socket_address
from pyd_proto.validation import RequestValidator, Rule

log = logging.getLogger("pyd.server")

S = TypeVar("S")

SOCKET_GROUP = "pyd"
REQUEST_ID_KEY = "x-request-id"


class AddressInUse(RuntimeError):
    """Another live daemon already listens on the socket."""


def prepare_socket_path(path: str) -> None:
    """Make the socket's directory and clear a stale socket left by a killed daemon.

    A socket file nobody accepts on (ECONNREFUSED) is stale and removed; one that
    accepts a connection belongs to a live daemon and is an error.
    """
    os.makedirs(os.path.dirname(path) or ".", mode=0o711, exist_ok=True)
    if not os.path.lexists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError as e:
        if e.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            raise
        os.unlink(path)
        log.info("removed stale socket", extra={"path": path})
        return
    finally:
        probe.close()
    raise AddressInUse(f"another daemon is already listening on {path}")


def secure_socket(path: str) -> None:
    """0660, root and group `pyd` when that group exists (DESIGN.md, Wire)."""
    with contextlib.suppress(KeyError):
        os.chown(path, 0, grp.getgrnam(SOCKET_GROUP).gr_gid)
    os.chmod(path, 0o660)


class _RequestIdInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Gives each call a request id (the caller's `x-request-id` or a new one),
    makes it visible to the handler's logs and logs the call's outcome."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        if handler is None:
            return None
        method = details.method
        rid = dict(details.invocation_metadata or ()).get(REQUEST_ID_KEY) or uuid.uuid4().hex[:12]

        def wrap(fn: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                token = logs.request_id.set(str(rid))
                start = time.monotonic()
                try:
                    return fn(request, context)
                finally:
                    _log_call(method, start, context)
                    logs.request_id.reset(token)

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                token = logs.request_id.set(str(rid))
                start = time.monotonic()
                try:
                    yield from fn(request, context)
                finally:
                    _log_call(method, start, context)
                    logs.request_id.reset(token)

            return stream if streaming else unary

        de, ser = handler.request_deserializer, handler.response_serializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                wrap(handler.unary_unary, False), de, ser)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                wrap(handler.unary_stream, True), de, ser)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                wrap(handler.stream_unary, False), de, ser)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                wrap(handler.stream_stream, True), de, ser)
        return handler


def _log_call(method: str, start: float, context: grpc.ServicerContext) -> None:
    code = context.code() if hasattr(context, "code") else None
    name = code.name if isinstance(code, grpc.StatusCode) else "OK"
    level = logging.DEBUG if name == "OK" else logging.INFO
    log.log(level, "call", extra={"method": method, "code": name,
                                  "ms": round((time.monotonic() - start) * 1000, 2)})


class Daemon:
    """A gRPC server on a unix socket with reflection, health and clean shutdown."""

    def __init__(self, name: str, socket_path: str, *, max_workers: int = 64,
                 rules: Mapping[str, Rule] | None = None) -> None:
        self.name = name
        self.socket_path = socket_path
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name),
            # Every request is checked (pyd_proto.validation) before its handler runs;
            # `rules` adds the daemon's own, by full method name.
            interceptors=[_RequestIdInterceptor(), RequestValidator(rules)],
            options=[("grpc.max_receive_message_length", 64 << 20),
                     ("grpc.max_send_message_length", 64 << 20)],
        )
        self.health = health.HealthServicer()
        self._services: list[str] = []
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._notifier: Any = None
        self._listeners: list[socket.socket] = []
        self._relay: Relay | None = None
        # Appended to the STATUS= line (e.g. "3 containers, 1 running"); refreshed
        # while running under systemd.
        self.status: Callable[[], str] | None = None

    def add(self, register: Callable[[S, grpc.Server], None], servicer: S, full_name: str) -> None:
        """Register a servicer (`add_XServicer_to_server`) under its full service name."""
        register(servicer, self.server)
        self._services.append(full_name)

    @property
    def services(self) -> tuple[str, ...]:
        """Full names of the services registered so far (containerd's introspection)."""
        return tuple(self._services)

    def on_stop(self, fn: Callable[[], None]) -> None:
        """Run `fn` after the server stopped accepting calls, in reverse order of adding."""
        self._on_stop.append(fn)

    def serve_listeners(self, listeners: list[socket.socket]) -> None:
        """Also serve on listening sockets systemd passed (socket activation). gRPC
        itself stays on `socket_path`; connections to these are relayed to it."""
        self._listeners = list(listeners)

    @property
    def addresses(self) -> str:
        """Where clients reach this daemon, for logs and the STATUS= line."""
        if self._listeners:
            return ", ".join(socket_address(s) for s in self._listeners) + \
                " (socket activation)"
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        """Bind the socket and start serving; reflection and health included."""
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [*self._services, health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        prepare_socket_path(self.socket_path)
        old = os.umask(0o117)  # created 0660 at once: no window where it is wider
        try:
            if self.server.add_insecure_port(f"unix:{self.socket_path}") == 0:
                raise OSError(f"cannot listen on unix:{self.socket_path}")
            self.server.start()
        finally:
            os.umask(old)
        secure_socket(self.socket_path)
        if self._listeners:
            self._relay = Relay(self._listeners, self.socket_path)
            self._relay.start()
        # NOT_SERVING until `run` reports READY: health means ready.
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("serving", extra={"address": self.addresses,
                                   "services": ",".join(self._services)})

    def _set_health(self, status: Any) -> None:
        for svc in ["", *self._services]:
            self.health.set(svc, status)

    def notify(self, *lines: str) -> None:
        """sd_notify; harmless when NOTIFY_SOCKET is unset."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        if self._notifier is None:
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()
        self._notifier.notify("\n".join(lines))

    def request_stop(self) -> None:
        self._stop.set()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT ask for a graceful stop."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())

    def wait(self) -> None:
        """Block until a stop is asked for."""
        while not self._stop.wait(3600):
            pass

    def run(self, grace: float = 5.0, prepare: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM/SIGINT (or `request_stop`), then stop gracefully.

        `prepare` runs before the socket is bound (dockerd brings up containerd there,
        as moby does before serving its API), so a client that can connect finds a
        ready daemon. A stop asked for during `prepare` takes effect right after it.
        """
        self.handle_signals()
        prepare_socket_path(self.socket_path)  # refuse a second daemon before preparing
        if prepare is not None:
            prepare()
        self.start()
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        line = self.status_line()
        self.notify("READY=1", f"STATUS={line}", f"MAINPID={os.getpid()}")
        if self.status is not None and os.environ.get("NOTIFY_SOCKET"):
            threading.Thread(target=self._refresh_status, args=(line,), name="sd-status",
                             daemon=True).start()
        self.wait()
        self.stop(grace)

    def status_line(self) -> str:
        """The STATUS= text: where it serves, and what `status` adds."""
        line = f"serving on {self.addresses}"
        if self.status is not None:
            try:
                extra = self.status()
            except Exception as e:  # the status line must never stop the daemon
                extra = f"status unavailable: {e}"
            if extra:
                line += f", {extra}"
        return line

    def _refresh_status(self, last: str, every: float = 5.0) -> None:
        while not self._stop.wait(every):
            line = self.status_line()
            if line != last:
                self.notify(f"STATUS={line}")
                last = line

    def stop(self, grace: float = 5.0) -> None:
        log.info("stopping")
        self.notify("STOPPING=1", "STATUS=stopping")
        self.health.enter_graceful_shutdown()
        if self._relay is not None:  # stop taking connections first; systemd queues them
            self._relay.stop()
        self.server.stop(grace).wait()
        for fn in reversed(self._on_stop):
            try:
                fn()
            except Exception:
                log.exception("shutdown step failed")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        log.info("stopped")
