"""Client side of the unix-socket gRPC every pyd component speaks."""

from __future__ import annotations

import grpc


def target(address: str) -> str:
    """`unix:///run/x.sock`, `unix:/run/x.sock` or a bare path → a gRPC target."""
    if address.startswith("unix://"):
        return "unix:" + address[len("unix://"):]
    if address.startswith("unix:"):
        return address
    if address.startswith("/"):
        return "unix:" + address
    return address


def channel(address: str) -> grpc.Channel:
    """An insecure channel to a pyd socket (unix sockets carry no TLS here)."""
    return grpc.insecure_channel(
        target(address),
        options=[("grpc.max_receive_message_length", 64 << 20),
                 ("grpc.max_send_message_length", 64 << 20),
                 ("grpc.enable_retries", 0),
                 # A restarted daemon (containerd under dockerd) is found again within a
                 # second: gRPC's default reconnect backoff grows to 120 s, upstream's
                 # containerd client caps it at 3 s; a local socket is cheap to retry.
                 # Not grpc.min_reconnect_backoff_ms: it is also the connect attempt's
                 # deadline, and a socket-activated daemon needs ~1 s to accept.
                 ("grpc.initial_reconnect_backoff_ms", 100),
                 ("grpc.max_reconnect_backoff_ms", 1000)],
    )
