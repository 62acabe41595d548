"""The lease of a call: gRPC metadata key `containerd-lease`, as upstream clients send it."""

from __future__ import annotations

import grpc

LEASE_KEY = "containerd-lease"


def from_context(context: grpc.ServicerContext) -> str:
    """The lease id the caller works under, or ''."""
    for key, value in context.invocation_metadata() or ():
        if key == LEASE_KEY:
            return str(value)
    return ""
