"""`-p/--publish` specs: go-connections nat.ParsePortSpecs, docker's wording."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyd_cli.opts import OptError

_UINT = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class PortMapping:
    """One container port ("80/tcp") and one host binding of it."""

    port: str
    host_ip: str
    host_port: str


def _parse_uint16(text: str) -> int:
    if not _UINT.match(text) or int(text) > 65535:
        raise ValueError(text)
    return int(text)


def parse_port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange: "80" or "8000-8010"."""
    if ports == "":
        raise ValueError("empty string specified for ports")
    if "-" not in ports:
        port = _parse_uint16(ports)
        return port, port
    parts = ports.split("-")
    start, end = _parse_uint16(parts[0]), _parse_uint16(parts[1])
    if end < start:
        raise ValueError("invalid range specified for port: " + ports)
    return start, end


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    if n == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[: n - 2]), parts[n - 2], parts[n - 1]


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: "80/udp" → ("udp", "80"); no proto → tcp."""
    parts = raw.split("/")
    if len(raw) == 0 or len(parts) == 0 or len(parts[0]) == 0:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if len(parts[1]) == 0:
        return "tcp", parts[0]
    return parts[1], parts[0]


def parse_port_spec(raw: str) -> list[PortMapping]:
    """nat.ParsePortSpec: `[ip:][hostPort:]containerPort[/proto]`, ranges allowed."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise OptError(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = ip[1:-1]
    if ip:
        import ipaddress

        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise OptError("invalid IP address: " + ip) from None
    if container_port == "":
        raise OptError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise OptError("invalid containerPort: " + container_port) from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise OptError("invalid hostPort: " + host_port) from None
    if host_port and (end - start) != (host_end - host_start) and end != start:
        raise OptError(
            "invalid ranges specified for container and host Ports: "
            f"{container_port} and {host_port}"
        )
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise OptError("invalid proto: " + proto)
    out: list[PortMapping] = []
    for i in range(end - start + 1):
        hp = host_port
        if host_port:
            hp = str(host_start + i)
        if start == end and host_start != host_end:
            hp = f"{hp}-{host_end}"
        out.append(PortMapping(f"{start + i}/{proto.lower()}", ip, hp))
    return out


def parse_port_specs(specs: list[str]) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """nat.ParsePortSpecs: (exposed ports in order, port → [(host_ip, host_port)])."""
    exposed: list[str] = []
    bindings: dict[str, list[tuple[str, str]]] = {}
    for raw in specs:
        for m in parse_port_spec(raw):
            if m.port not in exposed:
                exposed.append(m.port)
            bindings.setdefault(m.port, []).append((m.host_ip, m.host_port))
    return exposed, bindings


def parse_expose(value: str) -> list[str]:
    """`--expose 80[-90][/proto]` → ["80/tcp", ...] (docker's parse in opts.go)."""
    proto, port = split_proto_port(value)
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise OptError("invalid proto: " + proto)
    try:
        start, end = parse_port_range(port)
    except ValueError as err:
        raise OptError(f"invalid range format for --expose: {value}, error: {err}") from None
    return [f"{p}/{proto.lower()}" for p in range(start, end + 1)]
