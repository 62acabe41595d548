"""containerd's identifier rules (pkg/identifiers): names that are safe as path parts."""

from __future__ import annotations

import re

from pyd_proto.errdefs import InvalidArgument

MAX_LENGTH = 76
_PATTERN = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")


def validate(name: str) -> str:
    """Return `name` or raise InvalidArgument; no `/`, `..` or other path tricks pass."""
    if not name:
        raise InvalidArgument("identifier must not be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidArgument(f"identifier {name[:MAX_LENGTH]!r}... greater than maximum "
                              f"length ({MAX_LENGTH} characters)")
    if not _PATTERN.match(name):
        raise InvalidArgument(f"identifier {name!r} must match {_PATTERN.pattern}")
    return name


_LEASE = re.compile(r"^[A-Za-z0-9_.-]+$")


def validate_lease(lease_id: str) -> str:
    """Lease ids are never path parts, and ctr makes them as `<nanos>-<base64url>`, which
    can hold `--` or `-_` (upstream's stricter rule then refuses about one in ten):
    any run of [A-Za-z0-9_.-] up to the usual length is accepted."""
    if not lease_id or len(lease_id) > MAX_LENGTH or not _LEASE.match(lease_id):
        raise InvalidArgument(f"lease id {lease_id!r} must match {_LEASE.pattern} and be at "
                              f"most {MAX_LENGTH} characters")
    return lease_id
