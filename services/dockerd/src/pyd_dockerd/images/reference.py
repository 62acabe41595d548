"""Docker's image names: `busybox` is `docker.io/library/busybox:latest` in containerd
and `busybox:latest` to the user (distribution/reference's normalized vs familiar)."""

from __future__ import annotations

import re

from pyd_proto.errdefs import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)"
                   r"[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def normalize(ref: str) -> str:
    """The full name containerd stores: domain/path[:tag][@digest]."""
    if not ref or ref != ref.strip():
        raise InvalidArgument(f"invalid reference format: {ref!r}")
    name, _, digest = ref.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference format: {ref!r}")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if not _NAME.match(path):
        raise InvalidArgument(f"invalid reference format: repository name ({path}) must be "
                              "lowercase")
    if not tag and not digest:
        tag = "latest"
    out = f"{domain}/{path}"
    if tag:
        out += f":{tag}"
    if digest:
        out += f"@{digest}"
    return out


def familiar(full: str) -> str:
    """`docker.io/library/busybox:latest` → `busybox:latest`, as docker shows it."""
    if full.startswith(f"{DEFAULT_DOMAIN}/library/"):
        return full[len(f"{DEFAULT_DOMAIN}/library/"):]
    if full.startswith(f"{DEFAULT_DOMAIN}/"):
        return full[len(f"{DEFAULT_DOMAIN}/"):]
    return full


def split_repo_tag(familiar_name: str) -> tuple[str, str]:
    """`busybox:latest` → (`busybox`, `latest`); `<none>` where absent."""
    name = familiar_name.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "<none>"
