"""IPAM leases and published-port bookkeeping, on the database alone (no kernel)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from pyd_db.database import open_database
from pyd_dockerd.network import ports
from pyd_dockerd.network.ipam import GATEWAY_OWNER, Ipam, parse_bip, pick_subnet
from pyd_dockerd.network.model import Network, network_values
from pyd_dockerd.network.ports import PortMapping, parse_port_spec
from pyd_dockerd.store import tables
from pyd_proto.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument


def _network(engine: Engine, subnet: str, net_id: str = "n1", ip_range: str | None = None,
             ) -> str:
    net = IPv4Network(subnet)
    gw = next(net.hosts())
    with engine.begin() as conn:
        conn.execute(insert(tables.networks).values(**network_values(Network(
            id=net_id, name=f"net-{net_id}", driver="bridge", bridge=f"br-{net_id}",
            subnet=subnet, gateway=str(gw), ip_range=ip_range,
            created=datetime.now(UTC)))))
    Ipam(engine).reserve(net_id, str(gw), GATEWAY_OWNER)
    return net_id


def test_ipam_never_hands_out_a_duplicate_after_restart(tmp_path: Path) -> None:
    eng = open_database(tmp_path / "pyd.db", "dockerd")
    nid = _network(eng, "10.20.0.0/24")
    first = {str(Ipam(eng).allocate(nid, f"ep{i}")) for i in range(5)}
    eng.dispose()  # the daemon dies; a new one opens the same database
    eng = open_database(tmp_path / "pyd.db", "dockerd")
    try:
        again = {str(Ipam(eng).allocate(nid, f"later{i}")) for i in range(5)}
        assert not first & again
        assert "10.20.0.1" not in first | again  # the gateway is leased
        assert len(Ipam(eng).leases(nid)) == 11
    finally:
        eng.dispose()


def test_ipam_does_not_reuse_a_released_address_at_once(engine: Engine) -> None:
    nid = _network(engine, "10.21.0.0/24")
    ipam = Ipam(engine)
    a = ipam.allocate(nid, "a")
    assert a == IPv4Address("10.21.0.2")
    ipam.release(nid, str(a))
    assert ipam.allocate(nid, "b") == IPv4Address("10.21.0.3")


def test_ipam_wraps_and_reports_exhaustion(engine: Engine) -> None:
    nid = _network(engine, "10.22.0.0/29")  # .1 gateway, .2-.6 usable, .7 broadcast
    ipam = Ipam(engine)
    got = [str(ipam.allocate(nid, f"e{i}")) for i in range(5)]
    assert got == [f"10.22.0.{i}" for i in range(2, 7)]
    with pytest.raises(FailedPrecondition, match="no available IPv4 addresses on this "
                       "network's address pools: net-n1"):
        ipam.allocate(nid, "too-many")
    ipam.release(nid, "10.22.0.3")
    assert str(ipam.allocate(nid, "wrap")) == "10.22.0.3"


def test_ipam_honours_ip_range_and_reservations(engine: Engine) -> None:
    nid = _network(engine, "10.23.0.0/24", ip_range="10.23.0.128/25")
    ipam = Ipam(engine)
    assert str(ipam.allocate(nid, "x")) == "10.23.0.128"
    assert str(ipam.reserve(nid, "10.23.0.50", "y")) == "10.23.0.50"
    with pytest.raises(AlreadyExists, match="Address already in use"):
        ipam.reserve(nid, "10.23.0.50", "z")
    with pytest.raises(InvalidArgument):
        ipam.reserve(nid, "10.99.0.5", "z")


def test_ipam_concurrent_allocations_are_unique(engine: Engine) -> None:
    nid = _network(engine, "10.24.0.0/24")
    ipam = Ipam(engine)
    got: list[str] = []

    def worker(i: int) -> None:
        for j in range(5):
            got.append(str(ipam.allocate(nid, f"w{i}-{j}")))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 30 and len(set(got)) == 30


def test_pick_subnet_avoids_networks_and_routes() -> None:
    taken = [IPv4Network("172.17.0.0/16")]
    routes = [IPv4Network("172.18.5.0/24")]
    assert pick_subnet(taken, routes) == IPv4Network("172.19.0.0/16")
    assert parse_bip("10.10.0.1/24") == (IPv4Network("10.10.0.0/24"), IPv4Address("10.10.0.1"))
    with pytest.raises(InvalidArgument):
        parse_bip("10.10.0.0/24")


def test_port_spec_forms() -> None:
    assert parse_port_spec("80") == [PortMapping(80)]
    assert parse_port_spec("8080:80") == [PortMapping(80, "tcp", "", 8080)]
    assert parse_port_spec("127.0.0.1:8080:80/udp") == [PortMapping(80, "udp", "127.0.0.1",
                                                                     8080)]
    assert parse_port_spec("127.0.0.1::80") == [PortMapping(80, "tcp", "127.0.0.1", 0)]
    assert parse_port_spec("8000-8001:80-81") == [PortMapping(80, "tcp", "", 8000),
                                                   PortMapping(81, "tcp", "", 8001)]


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", "invalid containerPort: abc"),
    ("x:80", "invalid hostPort: x"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("80/foo", "invalid proto: foo"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("70000:80", "invalid hostPort: 70000"),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and "
                        "8000-8002"),
])
def test_port_spec_errors_match_docker(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_port_spec(spec)
    assert str(err.value) == message


def test_port_already_allocated(engine: Engine) -> None:
    with engine.begin() as conn:
        got = ports.allocate(conn, [PortMapping(80, "tcp", "", 8080), PortMapping(81)],
                             container_id="c1", endpoint_id="e1", container_ip="10.0.0.2")
    assert got[0].host_port == 8080 and ports.EPHEMERAL[0] <= got[1].host_port
    for clash in (PortMapping(80, "tcp", "", 8080), PortMapping(80, "tcp", "127.0.0.1", 8080)):
        with pytest.raises(FailedPrecondition) as err, engine.begin() as conn:
            ports.allocate(conn, [clash], container_id="c2", endpoint_id="e2",
                           container_ip="10.0.0.3")
        assert str(err.value).endswith("failed: port is already allocated")
    with engine.begin() as conn:  # another protocol is another port
        ports.allocate(conn, [PortMapping(80, "udp", "", 8080)], container_id="c2",
                       endpoint_id="e2", container_ip="10.0.0.3")
        ports.release(conn, "e1")
    with engine.begin() as conn:
        ports.allocate(conn, [PortMapping(80, "tcp", "", 8080)], container_id="c3",
                       endpoint_id="e3", container_ip="10.0.0.4")
