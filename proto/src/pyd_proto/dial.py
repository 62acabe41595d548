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
                 ("grpc.enable_retries", 0)],
    )
