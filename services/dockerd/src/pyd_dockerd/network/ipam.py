"""IP address management (libnetwork's ipam, the default driver): subnet pools for
new networks, and per-network address leases persisted in dockerd's database.

A lease is a row keyed by (network, address). Allocation reads the taken addresses,
picks the next free one after the network's `last_ip` (so a just-released address
is not handed out again at once), inserts the lease and moves `last_ip`, all in one
transaction: a daemon killed at any point either holds the lease or does not, and
never gives one address to two endpoints after it restarts.
"""

from __future__ import annotations

import ipaddress
import threading
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_dockerd.store import tables
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

GATEWAY_OWNER = "gateway"


def default_pools() -> list[IPv4Network]:
    """Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    pools = [IPv4Network(f"172.{n}.0.0/16") for n in range(17, 32)]
    pools += list(IPv4Network("192.168.0.0/16").subnets(new_prefix=20))
    return pools


def host_routes() -> list[IPv4Network]:
    """IPv4 destinations this network namespace already routes (besides the default),
    so a new network never shadows an existing one (libnetwork's overlap check)."""
    from pyroute2 import IPRoute

    out: list[IPv4Network] = []
    with IPRoute() as ipr:
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"]:
                out.append(IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
    return out


def pick_subnet(taken: list[IPv4Network], avoid: list[IPv4Network] | None = None,
                pools: list[IPv4Network] | None = None) -> IPv4Network:
    """The first pool subnet that overlaps neither a network's subnet nor a route."""
    blocked = list(taken) + list(avoid or [])
    for candidate in pools or default_pools():
        if not any(candidate.overlaps(b) for b in blocked):
            return candidate
    raise FailedPrecondition("could not find an available, non-overlapping IPv4 address "
                             "pool among the defaults to assign to the network")


def parse_subnet(value: str) -> IPv4Network:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {value}: {e}") from e
    if not isinstance(net, IPv4Network):
        raise InvalidArgument(f"invalid subnet {value}: only IPv4 is supported")
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {value}: too small for a network")
    return net


def parse_bip(value: str) -> tuple[IPv4Network, IPv4Address]:
    """`--bip 10.10.0.1/24` → (10.10.0.0/24, 10.10.0.1), as Docker's --bip."""
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError as e:
        raise InvalidArgument(f"invalid --bip {value!r}: {e}") from e
    if not isinstance(iface, ipaddress.IPv4Interface) or iface.network.prefixlen > 30:
        raise InvalidArgument(f"invalid --bip {value!r}: an IPv4 address with a prefix "
                              "of at most /30 is needed, e.g. 172.17.0.1/16")
    if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
        raise InvalidArgument(f"invalid --bip {value!r}: the host part must not be all "
                              "zeros or ones")
    return iface.network, iface.ip


def _usable(net: IPv4Network, ip: IPv4Address) -> bool:
    return ip != net.network_address and ip != net.broadcast_address


class Ipam:
    """Leases of one database. Every method may take `conn` to join a caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite lets one writer in at a time; the lock keeps this process's allocations
        # from racing each other, the primary key keeps any two from sharing an address.
        self._lock = threading.Lock()

    def _network(self, conn: Connection, network_id: str) -> tuple[IPv4Network, IPv4Network,
                                                                    str | None]:
        n = tables.networks
        # Write first: the transaction takes SQLite's write lock before it reads the
        # leases (waiting its turn), so concurrent allocations, in this process or
        # another, are serialised instead of failing or colliding.
        conn.execute(update(n).where(n.c.id == network_id).values(last_ip=n.c.last_ip))
        row = conn.execute(select(n.c.subnet, n.c.ip_range, n.c.last_ip, n.c.name)
                           .where(n.c.id == network_id)).first()
        if row is None:
            raise NotFound(f"network {network_id} not found")
        if not row.subnet:
            raise FailedPrecondition(f"network {row.name} has no IPv4 subnet")
        subnet = IPv4Network(row.subnet)
        pool = IPv4Network(row.ip_range) if row.ip_range else subnet
        return subnet, pool, row.last_ip

    def reserve(self, network_id: str, address: str, owner: str,
                conn: Connection | None = None) -> IPv4Address:
        """Take the specific `address` (a gateway, or a container's --ip)."""
        if conn is None:
            with self._lock, self.engine.begin() as c:
                return self.reserve(network_id, address, owner, c)
        subnet, _pool, _last = self._network(conn, network_id)
        try:
            ip = IPv4Address(address)
        except ValueError as e:
            raise InvalidArgument(f"invalid IPv4 address: {address}") from e
        if ip not in subnet or not _usable(subnet, ip):
            raise InvalidArgument(f"no configured subnet or ip-range contain the IP address "
                                  f"{address}")
        taken = conn.execute(select(tables.ip_leases.c.owner).where(
            tables.ip_leases.c.network_id == network_id,
            tables.ip_leases.c.address == str(ip))).first()
        if taken is not None:
            raise AlreadyExists("Address already in use")
        conn.execute(insert(tables.ip_leases).values(
            network_id=network_id, address=str(ip), owner=owner,
            created_at=datetime.now(UTC)))
        return ip

    def allocate(self, network_id: str, owner: str,
                 conn: Connection | None = None) -> IPv4Address:
        """The next free address of the network's pool, leased to `owner`."""
        if conn is None:
            for _ in range(5):
                try:
                    with self._lock, self.engine.begin() as c:
                        return self.allocate(network_id, owner, c)
                except IntegrityError:  # another process took it: try the next
                    continue
            raise FailedPrecondition("could not lease an address: too much contention")
        subnet, pool, last = self._network(conn, network_id)
        used = {IPv4Address(a) for (a,) in conn.execute(
            select(tables.ip_leases.c.address).where(
                tables.ip_leases.c.network_id == network_id))}
        ip = self._next_free(subnet, pool, used, IPv4Address(last) if last else None)
        if ip is None:
            name = conn.execute(select(tables.networks.c.name).where(
                tables.networks.c.id == network_id)).scalar()
            raise FailedPrecondition(f"no available IPv4 addresses on this network's address "
                                     f"pools: {name} ({network_id})")
        conn.execute(insert(tables.ip_leases).values(
            network_id=network_id, address=str(ip), owner=owner, created_at=datetime.now(UTC)))
        conn.execute(update(tables.networks).where(tables.networks.c.id == network_id)
                     .values(last_ip=str(ip)))
        return ip

    @staticmethod
    def _next_free(subnet: IPv4Network, pool: IPv4Network, used: set[IPv4Address],
                   last: IPv4Address | None) -> IPv4Address | None:
        first, end = int(pool.network_address), int(pool.broadcast_address)
        size = end - first + 1
        start = int(last) + 1 if last is not None and last in pool else first
        for i in range(size):
            cand = IPv4Address(first + (start - first + i) % size)
            if cand not in used and _usable(subnet, cand):
                return cand
        return None

    def release(self, network_id: str, address: str, conn: Connection | None = None) -> None:
        if conn is None:
            with self._lock, self.engine.begin() as c:
                return self.release(network_id, address, c)
        conn.execute(delete(tables.ip_leases).where(
            tables.ip_leases.c.network_id == network_id,
            tables.ip_leases.c.address == address))
        return None

    def leases(self, network_id: str) -> dict[str, str]:
        """address → owner of every lease on the network."""
        with self.engine.connect() as conn:
            return {str(a): str(o) for a, o in conn.execute(
                select(tables.ip_leases.c.address, tables.ip_leases.c.owner).where(
                    tables.ip_leases.c.network_id == network_id))}
