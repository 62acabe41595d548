"""The one module that talks to pyd-containerd (moby's libcontainerd)."""

from __future__ import annotations

import threading
from typing import Any

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyd_proto import dial
from pyd_proto.containerd.services.version.v1 import version_pb2_grpc
from pyd_proto.errdefs import from_rpc_error

NAMESPACE = "moby"  # dockerd's namespace inside containerd, as upstream
NAMESPACE_KEY = "containerd-namespace"


def health_check(address: str, timeout: float = 1.0) -> bool:
    """True when the daemon at `address` reports SERVING."""
    ch = dial.channel(address)
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                    timeout=timeout)
        return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
    finally:
        ch.close()


class ContainerdClient:
    """Typed calls to containerd; gRPC errors come back as `pyd_proto.errdefs` errors."""

    def __init__(self, address: str, namespace: str = NAMESPACE) -> None:
        self.address = address
        self.namespace = namespace
        self._channel: grpc.Channel | None = None
        self._lock = threading.Lock()

    @property
    def channel(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                self._channel = dial.channel(self.address)
            return self._channel

    def _md(self) -> list[tuple[str, str]]:
        return [(NAMESPACE_KEY, self.namespace)]

    def _call(self, fn: Any, request: Any, timeout: float = 30.0) -> Any:
        try:
            return fn(request, metadata=self._md(), timeout=timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def version(self) -> tuple[str, str]:
        """containerd's (version, revision)."""
        resp = self._call(version_pb2_grpc.VersionStub(self.channel).Version, empty_pb2.Empty(),
                          timeout=5.0)
        return resp.version, resp.revision

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None
