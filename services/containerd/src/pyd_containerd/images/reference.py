"""Docker-style image references: `busybox` → `docker.io/library/busybox:latest`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyd_proto.errdefs import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def parse(ref: str, *, default_tag: str = "latest") -> Reference:
    """Parse and normalize as Docker does; InvalidArgument for a malformed reference."""
    if not ref:
        raise InvalidArgument("image reference must not be empty")
    rest, digest = ref, ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidArgument(f"invalid reference {ref!r}: bad digest")
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference {ref!r}: bad tag")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if not _NAME.match(path):
        raise InvalidArgument(f"invalid reference {ref!r}: repository name must be lowercase")
    if not tag and not digest:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def normalize(ref: str) -> str:
    """The fully qualified name containerd stores (`docker.io/library/busybox:latest`)."""
    return str(parse(ref))


def familiar(ref: str) -> str:
    """Docker's short form: docker.io/library/busybox:latest → busybox:latest."""
    try:
        r = parse(ref, default_tag="")
    except InvalidArgument:
        return ref
    name = r.repository
    if r.domain == DEFAULT_DOMAIN:
        name = r.path.removeprefix("library/") if r.path.count("/") == 1 else r.path
    if r.tag:
        name += ":" + r.tag
    if r.digest:
        name += "@" + r.digest
    return name
