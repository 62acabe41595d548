"""pyd's typed errors → Docker's HTTP status codes (moby's api/server/httpstatus):
the core raises the same errors for the gRPC servicers and for the Engine API."""

from __future__ import annotations

from pyd_proto.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PydError,
    Unavailable,
    Unimplemented,
)

_STATUS: dict[type[PydError], int] = {
    NotFound: 404,
    InvalidArgument: 400,
    # moby's errdefs.Conflict (name in use, container running, not running ...)
    AlreadyExists: 409,
    FailedPrecondition: 409,
    Unimplemented: 501,
    Unavailable: 503,
    Internal: 500,
}


def status_for(err: BaseException) -> int:
    """The HTTP status Docker answers for this error (500 for anything untyped)."""
    for cls in type(err).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]  # type: ignore[index]
    return 500


class BadParameter(InvalidArgument):
    """A query or body value the API cannot use (moby's errdefs.InvalidParameter)."""
