"""What `ps` sees (moby's container/view.go and daemon/list.go): the filters Docker
accepts, -a/-n/-l, and each container's summary in Docker's JSON shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pyd_dockerd.container.container import Container
from pyd_dockerd.container.state import Status
from pyd_proto.errdefs import InvalidArgument

FILTERS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since",
           "volume", "network", "publish", "expose", "health", "is-task")


def _label_match(labels: dict[str, str], expr: str) -> bool:
    key, eq, value = expr.partition("=")
    if key not in labels:
        return False
    return not eq or labels[key] == value


def _port_matches(spec: str, ports: set[tuple[int, str]]) -> bool:
    port_s, _, proto = spec.partition("/")
    proto = proto or "tcp"
    start_s, _, end_s = port_s.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if end_s else start
    except ValueError as e:
        raise InvalidArgument(f"invalid port filter: {spec}") from e
    return any(start <= p <= end and pr == proto for p, pr in ports)


def published_ports(c: Container) -> set[tuple[int, str]]:
    """(host port, proto) of every published port of a running container."""
    out = set()
    for key, binds in (c.network_settings.get("Ports") or {}).items():
        _port, _, proto = key.partition("/")
        for b in binds or []:
            if b.get("HostPort"):
                out.add((int(b["HostPort"]), proto or "tcp"))
    return out


def exposed_ports(c: Container) -> set[tuple[int, str]]:
    out = set()
    for key in [*(c.config.get("ExposedPorts") or {}), *c.port_bindings]:
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.add((int(port), proto or "tcp"))
    return out


def filter_containers(containers: list[Container], filters: dict[str, list[str]] | None = None,
                      *, all: bool = False, limit: int = 0, latest: bool = False,
                      resolve: Callable[[str], Container] | None = None,
                      ancestors: Callable[[str], set[str]] | None = None) -> list[Container]:
    """Docker's `ps` selection, newest first.

    `resolve` finds the container a `before`/`since` filter names; `ancestors(value)`
    gives the image ids an `ancestor` filter value stands for (else the value is
    matched against Config.Image and the image id prefix).
    """
    filters = {k: v for k, v in (filters or {}).items() if v}
    for key in filters:
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for status in filters.get("status", []):
        if status not in {s.value for s in Status}:
            raise InvalidArgument(f"invalid filter 'status={status}'")
    exited: set[int] = set()
    for code in filters.get("exited", []):
        try:
            exited.add(int(code))
        except ValueError as e:
            raise InvalidArgument(f"invalid filter 'exited={code}'") from e
    before = since = None
    if resolve is not None:
        if filters.get("before"):
            before = resolve(filters["before"][-1]).created
        if filters.get("since"):
            since = resolve(filters["since"][-1]).created
    # With status, exited, since or before given, stopped containers count too (moby).
    include_stopped = all or any(k in filters for k in ("status", "exited", "before"))
    ordered = sorted(containers, key=lambda c: c.created, reverse=True)
    if latest:
        ordered, limit = ordered[:1], 0
        include_stopped = True
    out = []
    for c in ordered:
        if not include_stopped and not c.state.running:
            continue
        if not _match(c, filters, exited, before, since, ancestors):
            continue
        out.append(c)
        if limit > 0 and len(out) >= limit:
            break
    return out


def _match(c: Container, f: dict[str, list[str]], exited: set[int],
           before: datetime | None, since: datetime | None,
           ancestors: Callable[[str], set[str]] | None) -> bool:
    if "id" in f and not any(c.id.startswith(v) for v in f["id"]):
        return False
    if "name" in f and not any(re.search(v, c.display_name) for v in f["name"]):
        return False
    if "label" in f and not all(_label_match(c.config.get("Labels") or {}, v)
                                for v in f["label"]):
        return False
    if "status" in f and c.state.status.value not in f["status"]:
        return False
    if exited and (c.state.status is not Status.EXITED or c.state.exit_code not in exited):
        return False
    if before is not None and c.created >= before:
        return False
    if since is not None and c.created <= since:
        return False
    if "ancestor" in f:
        ok = False
        for v in f["ancestor"]:
            ids = ancestors(v) if ancestors else set()
            if c.image in ids or c.config.get("Image") == v or (
                    v.removeprefix("sha256:") and c.image.removeprefix("sha256:").startswith(
                        v.removeprefix("sha256:"))):
                ok = True
        if not ok:
            return False
    if "volume" in f:
        names = {m.get("Name") for m in c.mounts} | {m.get("Destination") for m in c.mounts}
        if not any(v in names for v in f["volume"]):
            return False
    if "network" in f:
        nets = c.network_settings.get("Networks") or {}
        ids = {(n or {}).get("NetworkID", "") for n in nets.values()}
        if not any(v in nets or any(i.startswith(v) for i in ids if i) for v in f["network"]):
            return False
    if "publish" in f and not all(_port_matches(v, published_ports(c)) for v in f["publish"]):
        return False
    if "expose" in f and not all(_port_matches(v, exposed_ports(c)) for v in f["expose"]):
        return False
    if "health" in f and "none" not in f["health"]:
        return False
    return not ("is-task" in f and "true" in f["is-task"])


def command_of(c: Container) -> str:
    """The COMMAND column's source: Path and Args joined (moby's list.go)."""
    return " ".join([c.path, *c.args]) if c.path else ""


def ports_of(c: Container) -> list[dict[str, Any]]:
    """types.Port entries: published bindings, and exposed-only ports without them."""
    out: list[dict[str, Any]] = []
    ports = c.network_settings.get("Ports") or {}
    if not c.state.running:
        ports = {}
    for key in sorted(ports, key=lambda k: (int(k.partition("/")[0]), k)):
        port, _, proto = key.partition("/")
        binds = ports[key] or []
        if not binds:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for b in binds:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    return out


def summary(c: Container, now: datetime | None = None) -> dict[str, Any]:
    """One `ps` row as Docker's API returns it (types.Container)."""
    nets = c.network_settings.get("Networks") or {}
    return {
        "Id": c.id, "Names": [c.display_name], "Image": c.config.get("Image") or c.image,
        "ImageID": c.image, "Command": command_of(c),
        "Created": int(c.created.astimezone(UTC).timestamp()), "Ports": ports_of(c),
        "Labels": dict(c.config.get("Labels") or {}), "State": c.state.status.value,
        "Status": c.state.human_status(now),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "bridge"},
        "NetworkSettings": {"Networks": nets}, "Mounts": list(c.mounts),
    }
