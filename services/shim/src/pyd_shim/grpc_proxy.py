"""`pyd-shim grpc-proxy`: a shim's Task service over gRPC, for grpcurl and other gRPC tools.

The shim itself speaks only ttrpc (grpcio would cost every shim ~20 MiB; see
services/shim/README.md). This is a separate process started by whoever wants to
inspect one shim: it serves `containerd.task.v2.Task` on a unix socket with server
reflection and health (pyd's usual daemon bootstrap) and forwards each call, bytes
unchanged, to the shim's ttrpc socket; status codes come back as they were. The
shim's own memory and start-up are untouched, and the proxy holds nothing a shim
needs: stop it at any time.

    pyd-shim -address unix:///SHIM_SOCKET [-namespace NS] grpc-proxy LISTEN_PATH

The namespace of a call is its `containerd-namespace` metadata, else `-namespace`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import grpc

from pyd_proto import errdefs
from pyd_proto.containerd.cgroups.v1 import metrics_pb2  # noqa: F401 (reflection of Any)
from pyd_proto.containerd.runtime.task.v2 import shim_pb2
from pyd_proto.server import Daemon
from pyd_shim import ttrpc

log = logging.getLogger("pyd.shim.grpc-proxy")

SERVICE = shim_pb2.DESCRIPTOR.services_by_name["Task"]
NAMESPACE_KEY = "containerd-namespace"  # gRPC metadata, as containerd's clients send it
DEFAULT_TIMEOUT = 60.0


class Raw:
    """A message that is only bytes: the proxy never decodes what it forwards."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    def SerializeToString(self, *, deterministic: bool = False) -> bytes:
        return self.data

    def ParseFromString(self, serialized: bytes, /) -> int:
        self.data = bytes(serialized)
        return len(self.data)


class Forwarder:
    """One ttrpc connection to the shim, opened on first use and again after it drops."""

    def __init__(self, shim_address: str, namespace: str) -> None:
        self.shim_address = shim_address
        self.namespace = namespace
        self._client: ttrpc.Client | None = None
        self._lock = threading.Lock()

    def _connection(self) -> ttrpc.Client:
        with self._lock:
            if self._client is None or self._client.closed:
                self._client = ttrpc.Client(self.shim_address)
            return self._client

    def call(self, method: str, request: bytes, namespace: str, timeout: float) -> bytes:
        """Forward one call; a PydError carries the shim's status code."""
        answer = Raw()
        self._connection().call(SERVICE.full_name, method, Raw(request), answer,
                                timeout=timeout,
                                metadata={ttrpc.NAMESPACE_KEY: namespace or self.namespace})
        return answer.data

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()


class TaskProxy(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Every method of containerd.task.v2.Task, unary, bytes in and out."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.methods = {f"/{SERVICE.full_name}/{m.name}": m.name for m in SERVICE.methods}

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = self.methods.get(handler_call_details.method)
        if method is None:
            return None

        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            namespace = dict(context.invocation_metadata() or ()).get(NAMESPACE_KEY, "")
            remaining = context.time_remaining()
            timeout = min(remaining, DEFAULT_TIMEOUT) if remaining else DEFAULT_TIMEOUT
            try:
                return self.forwarder.call(method, request, str(namespace), timeout)
            except errdefs.PydError as e:
                errdefs.abort(context, e)
                raise  # abort raised already; this keeps the type checker content

        # no (de)serializers: gRPC hands over and takes back the raw message bytes
        return grpc.unary_unary_rpc_method_handler(forward)


def make_server(listen: str, shim_address: str, namespace: str) -> Daemon:
    """The proxy as a pyd daemon: socket 0660, reflection, health, graceful stop."""
    forwarder = Forwarder(shim_address, namespace)
    daemon = Daemon("pyd-shim-grpc-proxy", listen, max_workers=8)
    daemon.add(lambda handler, server: server.add_generic_rpc_handlers((handler,)),
               TaskProxy(forwarder), SERVICE.full_name)
    daemon.on_stop(forwarder.close)
    return daemon


def run(listen: str, shim_address: str, namespace: str, debug: bool = False) -> int:
    from pyd_proto import logs

    logs.setup("shim-grpc-proxy", debug=debug)
    if not listen:
        raise SystemExit("pyd-shim grpc-proxy: a socket path to listen on is required")
    if not shim_address:
        raise SystemExit("pyd-shim grpc-proxy: -address (the shim's socket) is required")
    daemon = make_server(listen.removeprefix("unix://"), shim_address, namespace)
    log.info("proxying", extra={"shim": shim_address, "listen": listen})
    daemon.run()
    return 0
