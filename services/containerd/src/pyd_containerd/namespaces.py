"""The namespace of a call: gRPC metadata key `containerd-namespace` (default `default`)."""

from __future__ import annotations

import grpc

from pyd_containerd import identifiers

NAMESPACE_KEY = "containerd-namespace"
DEFAULT = "default"


def from_context(context: grpc.ServicerContext) -> str:
    """The validated namespace the caller named, or `default`; InvalidArgument if bad."""
    for key, value in context.invocation_metadata() or ():
        if key == NAMESPACE_KEY:
            return identifiers.validate(str(value))
    return DEFAULT
