"""The bridge driver against the real kernel: bridges, veths into namespaces, pings,
iptables rules present and then gone. Each test runs inside a network namespace of
its own (entered by this thread and left again), so nothing touches the host's
interfaces or rules, and everything is removed even when a test fails."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pyd_dockerd.container.container import Container
from pyd_dockerd.network import bridge as kernel
from pyd_dockerd.network.controller import NetworkController, NetworkOptions
from pyd_dockerd.store.containers import ContainerStore
from pyd_proto.errdefs import FailedPrecondition

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

@dataclass
class Env:
    controller: NetworkController
    store: ContainerStore
    tag: str
    host_ns: str
    tmp: Path

    def container(self, name: str, **host_config: object) -> Container:
        return self.store.create(Container(id="", name=f"{name}-{self.tag}",
                                           host_config=dict(host_config)))

    def start(self, c: Container) -> str:
        """What the start path does for networking; returns the sandbox path."""
        netns = self.controller.create_sandbox(c)
        assert netns is not None
        self.controller.attach(c, netns)
        c.state.set_running(os.getpid())
        self.store.save(c)
        return netns

    def nsexec(self, netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nsenter", f"--net={netns}", *argv], capture_output=True,
                              text=True, timeout=10, check=False)


@pytest.fixture
def env(engine: Engine, tmp_path: Path, private_netns: str) -> Iterator[Env]:
    tag = uuid.uuid4().hex[:6]
    store = ContainerStore(engine, str(tmp_path / "containers"))
    ctl = NetworkController(engine, store, NetworkOptions(
        bridge_name=f"pt{tag}", bip="10.213.0.1/24", netns_dir=str(tmp_path / "netns")))
    ctl.init()
    try:
        yield Env(ctl, store, tag, private_netns, tmp_path)
    finally:
        with contextlib.suppress(Exception):
            ctl.teardown()


def test_two_containers_on_the_default_bridge_ping_each_other(env: Env) -> None:
    a, b = env.container("a"), env.container("b")
    na, nb = env.start(a), env.start(b)
    ip_a, ip_b = a.network_settings["IPAddress"], b.network_settings["IPAddress"]
    assert ip_a != ip_b and ip_a.startswith("10.213.0.") and ip_b.startswith("10.213.0.")
    assert a.network_settings["Gateway"] == "10.213.0.1"
    assert a.network_settings["Networks"]["bridge"]["IPAddress"] == ip_a
    assert kernel.interfaces_in_netns(na)["eth0"] == [f"{ip_a}/24"]
    res = env.nsexec(na, "busybox", "ping", "-c", "1", "-W", "2", ip_b)
    assert res.returncode == 0, res.stdout + res.stderr
    # the gateway (the host side) answers too
    assert env.nsexec(nb, "busybox", "ping", "-c", "1", "-W", "2", "10.213.0.1").returncode == 0
    # /etc files are written for the start path to bind-mount
    assert Path(a.hosts_path).read_text().rstrip().endswith(f"{ip_a}\t{a.hostname}")
    assert Path(a.hostname_path).read_text() == f"{a.hostname}\n"
    assert "nameserver" in Path(a.resolv_conf_path).read_text()

    host_ifs = [ep.host_ifname for ep in env.controller.endpoints_of(a.id)]
    env.controller.detach(a)
    env.controller.remove_sandbox(a)
    assert not any(kernel.link_exists(n or "") for n in host_ifs)
    assert not os.path.exists(na)
    leases = env.controller.ipam.leases(env.controller.get_network("bridge").id)
    assert ip_a not in leases and ip_b in leases


def test_user_network_peers_find_each_other_by_name(env: Env) -> None:
    net = env.controller.create_network(f"app-{env.tag}", subnet="10.214.0.0/24")
    assert kernel.link_exists(net.bridge or "")
    a = env.container("web", NetworkMode=net.name)
    b = env.container("db", NetworkMode=net.name)
    na = env.start(a)
    env.start(b)
    ip_b = b.network_settings["Networks"][net.name]["IPAddress"]
    hosts_a = Path(a.hosts_path).read_text()
    assert f"{ip_b}\t{b.name} {b.id[:12]}" in hosts_a  # a learned of b when b started
    assert env.nsexec(na, "busybox", "ping", "-c", "1", "-W", "2", ip_b).returncode == 0
    inspect = env.controller.inspect_network(net.name)
    assert set(inspect["Containers"]) == {a.id, b.id}
    assert inspect["IPAM"]["Config"] == [{"Subnet": "10.214.0.0/24", "Gateway": "10.214.0.1"}]

    env.controller.disconnect(net.name, b)
    assert b.name not in Path(a.hosts_path).read_text()
    with pytest.raises(FailedPrecondition, match="has active endpoints"):
        env.controller.remove_network(net.name)
    env.controller.detach(a)
    env.controller.remove_endpoints(a)
    env.controller.remove_network(net.name)
    assert not kernel.link_exists(net.bridge or "")


def test_connect_adds_a_live_interface_to_a_running_container(env: Env) -> None:
    net = env.controller.create_network(f"side-{env.tag}", subnet="10.215.0.0/24")
    a = env.container("c")
    na = env.start(a)
    env.controller.connect(net.name, a, {"Aliases": ["svc"]})
    ifs = kernel.interfaces_in_netns(na)
    assert ifs["eth1"][0].startswith("10.215.0.")
    assert set(a.network_settings["Networks"]) == {"bridge", net.name}
    env.controller.disconnect(net.name, a)
    assert "eth1" not in kernel.interfaces_in_netns(na)


def _rules(table: str) -> str:
    return subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True,
                          text=True, check=True).stdout


def test_nat_rules_present_while_published_then_gone(env: Env) -> None:
    chains = env.controller.nat.chains if env.controller.nat else None
    assert chains is not None
    assert "-s 10.213.0.0/24 ! -o pt" in _rules("nat")  # outbound MASQUERADE
    c = env.container("pub", PortBindings={"80/tcp": [{"HostIp": "127.0.0.1",
                                                       "HostPort": "18080"}],
                                           "53/udp": [{"HostIp": "", "HostPort": "15353"}]})
    env.start(c)
    ip = c.network_settings["IPAddress"]
    nat = _rules("nat")
    assert f"-d 127.0.0.1/32 -p tcp -m tcp --dport 18080 -j DNAT --to-destination {ip}:80" \
        in nat
    assert f"--dport 15353 -j DNAT --to-destination {ip}:53" in nat
    assert c.network_settings["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1",
                                                      "HostPort": "18080"}]
    other = env.container("clash", PortBindings={"80/tcp": [{"HostPort": "18080"}]})
    with pytest.raises(FailedPrecondition, match=r"Bind for 0\.0\.0\.0:18080 failed: port is "
                       "already allocated"):
        env.start(other)
    assert not env.controller.endpoints_of(other.id)[0].active  # nothing half attached
    env.controller.remove_sandbox(other)

    env.controller.detach(c)
    assert ip not in _rules("nat") and ip not in _rules("filter")
    env.controller.teardown()
    assert chains.dnat not in _rules("nat") and chains.forward not in _rules("filter")


def test_published_port_answers_on_loopback(env: Env) -> None:
    c = env.container("srv", PortBindings={"80/tcp": [{"HostIp": "127.0.0.1",
                                                       "HostPort": "18081"}]})
    netns = env.start(c)
    ready = threading.Event()
    got: list[bytes] = []

    def serve() -> None:  # a server inside the container's namespace
        with kernel.entered(netns):
            srv = socket.socket()
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind(("0.0.0.0", 80))
            srv.listen(1)
        ready.set()
        srv.settimeout(5)
        try:
            conn, _ = srv.accept()
            conn.sendall(b"hello from the container")
            got.append(conn.recv(100))
            conn.close()
        finally:
            srv.close()

    th = threading.Thread(target=serve)
    th.start()
    assert ready.wait(5)
    with socket.create_connection(("127.0.0.1", 18081), timeout=5) as s:
        assert s.recv(100) == b"hello from the container"
        s.sendall(b"hi")
    th.join(5)
    assert got == [b"hi"]
    env.controller.detach(c)


def test_none_and_host_modes(env: Env) -> None:
    n = env.container("none", NetworkMode="none")
    path = env.start(n)
    assert list(kernel.interfaces_in_netns(path)) == ["lo"]
    assert n.network_settings["Networks"]["none"]["IPAddress"] == ""
    h = env.container("host", NetworkMode="host")
    assert env.controller.create_sandbox(h) is None
    settings = env.controller.attach(h, None)
    assert "host" in settings["Networks"]
    assert Path(h.hosts_path).exists()


def test_user_networks_are_isolated_from_each_other(env: Env) -> None:
    n1 = env.controller.create_network(f"i1-{env.tag}", subnet="10.218.0.0/24")
    n2 = env.controller.create_network(f"i2-{env.tag}", subnet="10.219.0.0/24")
    a = env.container("a", NetworkMode=n1.name)
    b = env.container("b", NetworkMode=n2.name)
    na = env.start(a)
    env.start(b)
    ip_b = b.network_settings["Networks"][n2.name]["IPAddress"]
    assert env.nsexec(na, "busybox", "ping", "-c", "1", "-W", "1", "10.218.0.1").returncode == 0
    assert env.nsexec(na, "busybox", "ping", "-c", "1", "-W", "1", ip_b).returncode != 0
    env.controller.connect(n2.name, a)  # joined to both: now it reaches b directly
    assert env.nsexec(na, "busybox", "ping", "-c", "1", "-W", "2", ip_b).returncode == 0


def test_restarted_controller_keeps_leases_and_rules(env: Env, engine: Engine) -> None:
    a = env.container("a", PortBindings={"80/tcp": [{"HostPort": "18082"}]})
    env.start(a)
    again = NetworkController(engine, env.store, env.controller.options)
    again.init()  # what a restarted daemon does: adopt bridges, chains and rules
    assert _rules("nat").count("--dport 18082 -j DNAT") == 1
    b = env.container("b")
    netns = again.create_sandbox(b)
    assert netns is not None
    again.attach(b, netns)
    assert b.network_settings["IPAddress"] != a.network_settings["IPAddress"]
    with pytest.raises(FailedPrecondition, match="port is already allocated"):
        c = env.container("c", PortBindings={"80/tcp": [{"HostPort": "18082"}]})
        path = again.create_sandbox(c)
        assert path is not None
        again.attach(c, path)
    again.detach(a)
    assert "--dport 18082" not in _rules("nat")


def test_container_mode_joins_the_other_containers_namespace(env: Env) -> None:
    a = env.container("owner")
    na = env.start(a)
    sleeper = subprocess.Popen(["nsenter", f"--net={na}", "sleep", "30"])
    try:
        a.state.set_running(sleeper.pid)
        env.store.save(a)
        b = env.container("guest", NetworkMode=f"container:{a.name}")
        path = env.controller.create_sandbox(b)
        assert path == f"/proc/{sleeper.pid}/ns/net"
        env.controller.attach(b, path)
        assert Path(b.hosts_path).read_text() == Path(a.hosts_path).read_text()
        assert b.network_settings["Networks"] == {}
        a.state.set_stopped(0)
        env.store.save(a)
        c = env.container("late", NetworkMode=f"container:{a.name}")
        with pytest.raises(FailedPrecondition, match="cannot join network of a non running "
                           "container"):
            env.controller.create_sandbox(c)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_reconcile_frees_what_containers_that_died_meanwhile_held(env: Env) -> None:
    alive = env.container("alive")
    gone = env.container("gone", PortBindings={"80/tcp": [{"HostPort": "18083"}]})
    env.start(alive)
    env.start(gone)
    gone_ip = gone.network_settings["IPAddress"]
    assert env.controller.reconcile({alive.id}) == [gone.id]
    leases = env.controller.ipam.leases(env.controller.get_network("bridge").id)
    assert gone_ip not in leases and alive.network_settings["IPAddress"] in leases
    assert "--dport 18083" not in _rules("nat")
    assert not os.path.exists(env.controller.sandbox_path(gone))
    assert [m["destination"] for m in env.controller.etc_mounts(alive)] == [
        "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]


def test_parallel_attaches_get_distinct_addresses_and_ports(env: Env) -> None:
    cs = [env.container(f"p{i}", PortBindings={"80/tcp": [{"HostPort": ""}]})
          for i in range(12)]
    errors: list[BaseException] = []

    def start(c: Container) -> None:
        try:
            path = env.controller.create_sandbox(c)
            assert path is not None
            env.controller.attach(c, path)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(c,)) for c in cs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors, errors
    ips = {c.network_settings["IPAddress"] for c in cs}
    ports = {c.network_settings["Ports"]["80/tcp"][0]["HostPort"] for c in cs}
    assert len(ips) == 12 and len(ports) == 12
    for c in cs:
        env.controller.detach(c)
    assert "DNAT" not in _rules("nat")


def test_container_reaches_its_own_published_port_through_the_gateway(env: Env) -> None:
    c = env.container("self", PortBindings={"80/tcp": [{"HostPort": "18084"}]})
    netns = env.start(c)
    with kernel.entered(netns):
        srv = socket.socket()
        srv.bind(("0.0.0.0", 80))
        srv.listen(1)
        try:
            cli = socket.create_connection(("10.213.0.1", 18084), timeout=5)
            conn, peer = srv.accept()
            cli.sendall(b"loop")
            assert conn.recv(10) == b"loop"
            assert peer[0] == "10.213.0.1"  # the hairpin MASQUERADE gave it the gateway's
            conn.close()
            cli.close()
        finally:
            srv.close()
    env.controller.detach(c)


def test_host_interfaces_are_never_taken_as_bridges(env: Env, engine: Engine) -> None:
    with pytest.raises(FailedPrecondition, match="already in use by an interface"):
        env.controller.create_network(f"x-{env.tag}", options={
            "com.docker.network.bridge.name": "lo"})
    assert env.controller.list_networks()[-1].name != f"x-{env.tag}"
    with pytest.raises(FailedPrecondition, match="exists and is not a bridge"):
        kernel.ensure_bridge("lo", None)
    assert not kernel.delete_bridge("lo") and kernel.link_exists("lo")


def test_internal_network_has_no_way_out(env: Env) -> None:
    net = env.controller.create_network(f"in-{env.tag}", subnet="10.223.0.0/24",
                                        internal=True)
    c = env.container("inside", NetworkMode=net.name)
    netns = env.start(c)
    routes = env.nsexec(netns, "ip", "route").stdout
    assert "default" not in routes and "10.223.0.0/24" in routes
    assert "-s 10.223.0.0/24" not in _rules("nat")
    assert f"-A {env.controller.nat.chains.forward} -i {net.bridge} ! -o {net.bridge} -j DROP" \
        in _rules("filter")  # type: ignore[union-attr]


def test_rename_updates_peers_hosts_files(env: Env) -> None:
    net = env.controller.create_network(f"rn-{env.tag}", subnet="10.224.0.0/24")
    a = env.container("a", NetworkMode=net.name)
    b = env.container("b", NetworkMode=net.name)
    env.start(a)
    env.start(b)
    env.store.rename(b.id, f"renamed-{env.tag}")
    b = env.store.get(b.id)
    env.controller.renamed(b)
    hosts = Path(a.hosts_path).read_text()
    assert f"renamed-{env.tag}" in hosts and f"b-{env.tag}" not in hosts
    assert b.network_settings["Networks"][net.name]["DNSNames"][0] == f"renamed-{env.tag}"
