"""Published ports: parsing `-p` specs (go-connections nat.ParsePortSpec, with its
messages) and allocating host ports in dockerd's database (libnetwork's
portallocator), so a port taken by one container is refused to the next with
Docker's "port is already allocated" — across daemon restarts too."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from pyd_dockerd.store import tables
from pyd_proto.errdefs import FailedPrecondition, InvalidArgument

PROTOS = ("tcp", "udp", "sctp")
# Docker takes ephemeral host ports from the kernel's ip_local_port_range.
EPHEMERAL = (32768, 60999)


@dataclass(frozen=True)
class PortMapping:
    """One container port published on one host address."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""        # "" = every address (0.0.0.0)
    host_port: int = 0       # 0 = pick an ephemeral port

    @property
    def key(self) -> str:
        """HostConfig.PortBindings key: "80/tcp"."""
        return f"{self.container_port}/{self.proto}"


def _port_range(text: str) -> tuple[int, int]:
    start_s, _, end_s = text.partition("-")
    start = int(start_s)
    end = int(end_s) if end_s else start
    if not (0 < start <= 65535 and 0 < end <= 65535) or end < start:
        raise ValueError(text)
    return start, end


def parse_port_spec(raw: str) -> list[PortMapping]:
    """`[ip:][hostPort:]containerPort[/proto]`, ranges allowed: "8000-8001:80-81/udp".

    Raises InvalidArgument with go-connections' messages for malformed specs.
    """
    proto = "tcp"
    spec = raw
    if "/" in spec:
        spec, _, proto = spec.rpartition("/")
        proto = proto.lower()
    ip, host, container = "", "", ""
    if spec.startswith("["):  # [::1]:80:80
        end = spec.find("]")
        ip, rest = spec[1:end], spec[end + 2:]
        host, _, container = rest.rpartition(":")
    else:
        parts = spec.split(":")
        if len(parts) == 1:
            container = parts[0]
        elif len(parts) == 2:
            host, container = parts
        elif len(parts) == 3:
            ip, host, container = parts
        else:
            ip = ":".join(parts[:-2])
            host, container = parts[-2], parts[-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError as e:
            raise InvalidArgument(f"invalid IP address: {ip}") from e
    if not container:
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    try:
        cstart, cend = _port_range(container)
    except ValueError as e:
        raise InvalidArgument(f"invalid containerPort: {container}") from e
    hstart = hend = 0
    if host:
        try:
            hstart, hend = _port_range(host)
        except ValueError as e:
            raise InvalidArgument(f"invalid hostPort: {host}") from e
    if proto not in PROTOS:
        raise InvalidArgument(f"invalid proto: {proto}")
    if host and (cend - cstart) != (hend - hstart):
        # Docker allows one container port against a host range (it picks one).
        if cend != cstart:
            raise InvalidArgument(f"invalid ranges specified for container and host Ports: "
                                  f"{container} and {host}")
    out = []
    for i in range(cend - cstart + 1):
        hp = hstart + i if host and hend - hstart == cend - cstart else hstart
        out.append(PortMapping(cstart + i, proto, ip, hp))
    return out


def bindings_to_mappings(port_bindings: dict[str, list[dict[str, str]]]) -> list[PortMapping]:
    """HostConfig.PortBindings ({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}) →
    mappings. A key with no bindings is exposed only."""
    out = []
    for key, binds in sorted(port_bindings.items()):
        port_s, _, proto = key.partition("/")
        proto = (proto or "tcp").lower()
        try:
            cport = int(port_s)
        except ValueError as e:
            raise InvalidArgument(f"invalid containerPort: {port_s}") from e
        if proto not in PROTOS:
            raise InvalidArgument(f"invalid proto: {proto}")
        for b in binds:
            host_port = str(b.get("HostPort") or "")
            try:
                hp = int(host_port.split("-")[0]) if host_port else 0
            except ValueError as e:
                raise InvalidArgument(f"invalid hostPort: {host_port}") from e
            out.append(PortMapping(cport, proto, str(b.get("HostIp") or ""), hp))
    return out


def already_allocated(host_ip: str, host_port: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"Bind for {host_ip or '0.0.0.0'}:{host_port} failed: port is already allocated")


def _clash(a_ip: str, b_ip: str) -> bool:
    any_a = a_ip in ("", "0.0.0.0")
    any_b = b_ip in ("", "0.0.0.0")
    return any_a or any_b or a_ip == b_ip


def allocate(conn: Connection, mappings: list[PortMapping], *, container_id: str,
             endpoint_id: str, container_ip: str) -> list[PortMapping]:
    """Record `mappings` (ephemeral ports chosen) in the caller's transaction."""
    pm = tables.port_mappings
    done: list[PortMapping] = []
    for m in mappings:
        host_ip = m.host_ip or "0.0.0.0"
        rows = conn.execute(select(pm.c.host_ip, pm.c.host_port).where(
            pm.c.proto == m.proto)).all()
        taken = {(r.host_ip, r.host_port) for r in rows}
        taken |= {(d.host_ip or "0.0.0.0", d.host_port) for d in done if d.proto == m.proto}
        if m.host_port:
            port = m.host_port
            if any(p == port and _clash(ip, host_ip) for ip, p in taken):
                raise already_allocated(host_ip, port)
        else:
            busy = {p for ip, p in taken if _clash(ip, host_ip)}
            lo, hi = EPHEMERAL
            start = random.randint(lo, hi)
            port = next((lo + (start - lo + i) % (hi - lo + 1) for i in range(hi - lo + 1)
                         if lo + (start - lo + i) % (hi - lo + 1) not in busy), 0)
            if not port:
                raise FailedPrecondition("no free host port in the ephemeral range")
        conn.execute(insert(pm).values(proto=m.proto, host_ip=host_ip, host_port=port,
                                       container_id=container_id, endpoint_id=endpoint_id,
                                       container_ip=container_ip,
                                       container_port=m.container_port))
        done.append(PortMapping(m.container_port, m.proto, host_ip, port))
    return done


def release(conn: Connection, endpoint_id: str) -> None:
    pm = tables.port_mappings
    conn.execute(delete(pm).where(pm.c.endpoint_id == endpoint_id))


def of_endpoint(conn: Connection, endpoint_id: str) -> list[tuple[PortMapping, str]]:
    """(mapping, container_ip) of every port published by the endpoint."""
    pm = tables.port_mappings
    rows = conn.execute(select(pm).where(pm.c.endpoint_id == endpoint_id)).all()
    return [(PortMapping(r.container_port, r.proto, r.host_ip, r.host_port), r.container_ip)
            for r in rows]
