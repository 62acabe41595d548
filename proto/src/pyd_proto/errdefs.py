"""Typed errors shared by pyd's cores, and their one mapping to gRPC status codes.

Cores raise these (containerd's errdefs); servicers turn them into status codes
with `abort_on_error`; clients turn status codes back with `from_rpc_error`.
Importing this module does not import grpc.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import grpc


class PydError(Exception):
    """Base of every typed error; `code` is the gRPC status code name."""

    code = "UNKNOWN"


class NotFound(PydError):
    code = "NOT_FOUND"


class AlreadyExists(PydError):
    code = "ALREADY_EXISTS"


class InvalidArgument(PydError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(PydError):
    code = "FAILED_PRECONDITION"


class Unavailable(PydError):
    code = "UNAVAILABLE"


class Unimplemented(PydError):
    code = "UNIMPLEMENTED"


class Internal(PydError):
    code = "INTERNAL"


_BY_CODE = {cls.code: cls for cls in (NotFound, AlreadyExists, InvalidArgument,
                                       FailedPrecondition, Unavailable, Unimplemented, Internal)}

F = TypeVar("F", bound=Callable[..., Any])


# A status message travels in a trailer, which clients refuse beyond 16 KiB (and warn
# about beyond 8): a message quoting a huge user value would turn into RESOURCE_EXHAUSTED.
MAX_MESSAGE = 4096


def abort(context: grpc.ServicerContext, err: PydError) -> None:
    import grpc

    message = str(err)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE - 3] + "..."
    context.abort(getattr(grpc.StatusCode, err.code), message)


def abort_on_error(fn: F) -> F:
    """Decorate a servicer method: a `PydError` from the core ends the call with its code."""
    import inspect

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from fn(self, request, context)
            except PydError as e:
                abort(context, e)
        return stream  # type: ignore[return-value]

    @functools.wraps(fn)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except PydError as e:
            abort(context, e)
    return unary  # type: ignore[return-value]


def from_rpc_error(err: grpc.RpcError) -> PydError:
    """The typed error a failed call stands for (client side)."""
    code = err.code() if hasattr(err, "code") else None
    name = getattr(code, "name", "UNKNOWN")
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_CODE.get(name, PydError)
    return cls(details or name.lower())
