"""Image references the way docker/distribution's `reference` package reads them
(only what the CLI needs: split name/tag/digest, default tag, familiar form)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_TAG = "latest"
_NAME = re.compile(
    r"^(?:(?P<domain>(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


class InvalidReference(ValueError):
    """Not a valid reference; str() is docker's "invalid reference format"."""


@dataclass(frozen=True)
class Reference:
    name: str
    tag: str = ""
    digest: str = ""

    def tagged(self) -> str:
        """NAME:TAG with the default tag when there is neither tag nor digest."""
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def parse(ref: str) -> Reference:
    """NAME[:TAG][@DIGEST]; docker's lower-case and length rules."""
    name, _, digest = ref.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    if not name or not _NAME.match(name):
        if name and name.lower() != name and _NAME.match(name.lower()):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    if tag and not _TAG.match(tag):
        raise InvalidReference("invalid reference format")
    if digest and not _DIGEST.match(digest):
        raise InvalidReference("invalid reference format")
    if len(name) > 255:
        raise InvalidReference("repository name must not be more than 255 characters")
    return Reference(name, tag, digest)


def familiar_tagged(ref: str) -> str:
    """ "busybox" → "busybox:latest" (what "Unable to find image '...'" shows)."""
    try:
        return parse(ref).tagged()
    except InvalidReference:
        return ref


def normalized(ref: str) -> str:
    """The fully qualified form docker pull prints last: docker.io/library/busybox:latest."""
    r = parse(ref)
    name = r.name
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        if "/" not in name:
            name = "library/" + name
        name = "docker.io/" + name
    return str(Reference(name, r.tag or ("" if r.digest else DEFAULT_TAG), r.digest))
