"""The network controller (libnetwork's Controller with its bridge driver): networks
and endpoints in dockerd's database, their bridges, veths and iptables rules on the
host, and each container's /etc/hosts, /etc/resolv.conf and /etc/hostname.

The container start path calls, in order:

    netns = controller.create_sandbox(container)     # path for the OCI spec (None: host)
    settings = controller.attach(container, netns)   # veths, addresses, ports, files
    ...task create/start...
and on stop:
    controller.detach(container); controller.remove_sandbox(container)

Every database change is one transaction; kernel changes follow it and are undone
if they fail, so a crash leaves either a recorded endpoint (which `restore` re-arms
or `detach` removes) or nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyd_dockerd.container.container import Container
from pyd_dockerd.network import bridge as kernel
from pyd_dockerd.network import ports as portalloc
from pyd_dockerd.network import resolv
from pyd_dockerd.network.ipam import GATEWAY_OWNER, Ipam, host_routes, parse_bip, parse_subnet
from pyd_dockerd.network.ipam import pick_subnet as _pick_subnet
from pyd_dockerd.network.model import (
    BRIDGE_NAME_OPTION,
    DEFAULT_BRIDGE,
    Endpoint,
    Network,
    network_values,
)
from pyd_dockerd.network.nat import Iptables, Nat, chain_prefix, probe_bind
from pyd_dockerd.store import tables
from pyd_proto.errdefs import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PydError,
)

log = logging.getLogger("pyd.dockerd.network")

_NET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
DRIVERS = ("bridge", "host", "null")


@dataclass(frozen=True)
class NetworkOptions:
    """The daemon flags that shape networking (--bridge-name, --bip, --iptables)."""

    bridge_name: str = "pyd0"
    bip: str = ""                  # "172.17.0.1/16"; empty: first free default pool
    iptables: bool = True
    iptables_binary: str = "iptables"
    mtu: int = 1500
    # Where sandbox (network namespace) files live: <state>/netns.
    netns_dir: str = "/run/pyd/netns"
    host_resolv: str = "/etc/resolv.conf"


def _new_id() -> str:
    return secrets.token_hex(32)


def _now() -> datetime:
    return datetime.now(UTC)


class NetworkController:
    """Networks, endpoints and sandboxes of one daemon."""

    def __init__(self, engine: Engine, containers: Any, options: NetworkOptions) -> None:
        """`containers` is the daemon's ContainerStore (used to name peers and find the
        container a `container:NAME` network mode points at)."""
        self.engine = engine
        self.containers = containers
        self.options = options
        self.ipam = Ipam(engine)
        self.nat: Nat | None = (Nat(chain_prefix(options.bridge_name),
                                    Iptables(options.iptables_binary))
                                if options.iptables else None)
        # Network-level commands (create, rm, connect, disconnect) run one at a time;
        # attach/detach of different containers run in parallel: their database
        # changes are serialised by SQLite, their kernel objects are their own.
        self._lock = threading.RLock()
        # hosts files are rewritten from a database snapshot: one writer at a time, so
        # an older snapshot never overwrites a newer one.
        self._files_lock = threading.RLock()

    # ================================================================ start / stop
    def init(self) -> None:
        """At daemon start: the built-in networks, every bridge and its rules, and the
        rules of endpoints that were active when the daemon last stopped (live restore)."""
        with self._lock:
            self._ensure_builtins()
            if self.nat is not None:
                self.nat.setup()
            for net in self.list_networks():
                if net.driver == "bridge":
                    self._program_network(net)
            self.restore()

    def restore(self) -> None:
        """Re-arm the iptables rules of active endpoints (idempotent)."""
        if self.nat is None:
            return
        with self.engine.connect() as conn:
            for ep in self._endpoints(conn, active=True):
                net = self._network_by_id(conn, ep.network_id)
                for m, cip in portalloc.of_endpoint(conn, ep.id):
                    self.nat.publish(net.bridge or "", m, cip)

    def shutdown(self) -> None:
        """At daemon stop: with no container attached, remove pyd's chains and bridges
        from the host; otherwise leave them for the containers that keep running."""
        with self._lock, self.engine.connect() as conn:
            if self._endpoints(conn, active=True):
                log.info("containers still attached: keeping bridges and iptables rules")
                return
        self.teardown()

    def teardown(self) -> None:
        """Remove every bridge and iptables rule this controller owns (records stay)."""
        with self._lock:
            if self.nat is not None:
                with contextlib.suppress(PydError):
                    self.nat.teardown()
            for net in self.list_networks():
                if net.driver == "bridge" and net.bridge:
                    kernel.delete_bridge(net.bridge)
            with contextlib.suppress(OSError):
                kernel.release_dir(self.options.netns_dir)

    def _ensure_builtins(self) -> None:
        with self.engine.begin() as conn:
            have = {r.name: r for r in conn.execute(
                select(tables.networks).where(tables.networks.c.builtin.is_(True)))}
            if "bridge" not in have:
                self._create_default_bridge(conn)
            else:
                self._check_default_bridge(conn, Network.from_row(have["bridge"]))
            for name, driver in (("host", "host"), ("none", "null")):
                if name not in have:
                    conn.execute(insert(tables.networks).values(**network_values(Network(
                        id=_new_id(), name=name, driver=driver, builtin=True))))

    def _default_bridge_subnet(self, conn: Connection) -> tuple[IPv4Network, IPv4Address]:
        if self.options.bip:
            return parse_bip(self.options.bip)
        taken = [IPv4Network(s) for (s,) in conn.execute(
            select(tables.networks.c.subnet).where(tables.networks.c.subnet.is_not(None)))]
        subnet = _pick_subnet(taken, self._routes_to_avoid())
        return subnet, next(subnet.hosts())

    def _routes_to_avoid(self) -> list[IPv4Network]:
        try:
            return host_routes()
        except Exception:  # no netlink here: nothing known to avoid
            return []

    def _create_default_bridge(self, conn: Connection) -> None:
        subnet, gw = self._default_bridge_subnet(conn)
        name = self.options.bridge_name
        kernel.valid_ifname(name)
        net = Network(id=_new_id(), name=DEFAULT_BRIDGE, driver="bridge", bridge=name,
                      subnet=str(subnet), gateway=str(gw), builtin=True, options={
                          "com.docker.network.bridge.default_bridge": "true",
                          "com.docker.network.bridge.enable_icc": "true",
                          "com.docker.network.bridge.enable_ip_masquerade": "true",
                          "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                          BRIDGE_NAME_OPTION: name,
                          "com.docker.network.driver.mtu": str(self.options.mtu)})
        conn.execute(insert(tables.networks).values(**network_values(net)))
        self.ipam.reserve(net.id, str(gw), GATEWAY_OWNER, conn)

    def _check_default_bridge(self, conn: Connection, net: Network) -> None:
        """A changed --bip or --bridge-name applies when no container is attached."""
        want_bridge = self.options.bridge_name
        want: tuple[IPv4Network, IPv4Address] | None = (
            parse_bip(self.options.bip) if self.options.bip else None)
        same = net.bridge == want_bridge and (
            want is None or (str(want[0]) == net.subnet and str(want[1]) == net.gateway))
        if same:
            return
        busy = conn.execute(select(tables.endpoints.c.id).where(
            tables.endpoints.c.network_id == net.id,
            tables.endpoints.c.active.is_(True))).first()
        if busy:
            log.warning("default bridge settings changed but containers are attached; "
                        "keeping the old ones", extra={"bridge": net.bridge})
            return
        if net.bridge and net.bridge != want_bridge:
            with contextlib.suppress(Exception):
                kernel.delete_bridge(net.bridge)
        subnet, gw = want if want else (IPv4Network(net.subnet or ""),
                                        IPv4Address(net.gateway or ""))
        conn.execute(delete(tables.ip_leases).where(tables.ip_leases.c.network_id == net.id,
                                                    tables.ip_leases.c.owner == GATEWAY_OWNER))
        opts = dict(net.options, **{BRIDGE_NAME_OPTION: want_bridge})
        conn.execute(update(tables.networks).where(tables.networks.c.id == net.id).values(
            bridge=want_bridge, subnet=str(subnet), gateway=str(gw), options=opts,
            last_ip=None))
        self.ipam.reserve(net.id, str(gw), GATEWAY_OWNER, conn)

    def _program_network(self, net: Network) -> None:
        """The bridge device, forwarding and the network's NAT rules."""
        if not net.bridge:
            return
        gw = IPv4Interface(f"{net.gateway}/{IPv4Network(net.subnet or '').prefixlen}") \
            if net.gateway and net.subnet else None
        kernel.ensure_bridge(net.bridge, gw, mtu=self.options.mtu)
        with contextlib.suppress(OSError):
            kernel.enable_ip_forward()
        if self.nat is not None and net.subnet:
            self.nat.add_network(net.bridge, net.subnet, internal=net.internal)

    def _unprogram_network(self, net: Network) -> None:
        if self.nat is not None and net.bridge and net.subnet:
            with contextlib.suppress(PydError):
                self.nat.remove_network(net.bridge, net.subnet, internal=net.internal)
        if net.bridge:
            kernel.delete_bridge(net.bridge)

    # ===================================================================== lookups
    def _network_by_id(self, conn: Connection, network_id: str) -> Network:
        row = conn.execute(select(tables.networks).where(
            tables.networks.c.id == network_id)).first()
        if row is None:
            raise NotFound(f"network {network_id} not found")
        return Network.from_row(row)

    def get_network(self, ref: str) -> Network:
        """By full id, then name, then unique id prefix (Docker's FindNetwork order)."""
        n = tables.networks
        with self.engine.connect() as conn:
            row = conn.execute(select(n).where(n.c.id == ref)).first()
            if row is None:
                row = conn.execute(select(n).where(n.c.name == ref)).first()
            if row is None and ref and re.fullmatch(r"[0-9a-f]+", ref):
                rows = conn.execute(select(n).where(n.c.id.startswith(ref))).all()
                if len(rows) > 1:
                    raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches "
                                          "found based on ID prefix)")
                row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"network {ref} not found")
        return Network.from_row(row)

    def list_networks(self) -> list[Network]:
        with self.engine.connect() as conn:
            return [Network.from_row(r) for r in conn.execute(
                select(tables.networks).order_by(tables.networks.c.created_at))]

    def _endpoints(self, conn: Connection, *, container_id: str | None = None,
                   network_id: str | None = None, active: bool | None = None) -> list[Endpoint]:
        e = tables.endpoints
        q = select(e).order_by(e.c.created_at)
        if container_id is not None:
            q = q.where(e.c.container_id == container_id)
        if network_id is not None:
            q = q.where(e.c.network_id == network_id)
        if active is not None:
            q = q.where(e.c.active.is_(active))
        return [Endpoint.from_row(r) for r in conn.execute(q)]

    def endpoints_of(self, container_id: str) -> list[Endpoint]:
        with self.engine.connect() as conn:
            return self._endpoints(conn, container_id=container_id)

    def endpoints_on(self, network_id: str) -> list[Endpoint]:
        with self.engine.connect() as conn:
            return self._endpoints(conn, network_id=network_id)

    # ============================================================ network commands
    def create_network(self, name: str, *, driver: str = "bridge", subnet: str = "",
                       gateway: str = "", ip_range: str = "", internal: bool = False,
                       attachable: bool = False, options: dict[str, str] | None = None,
                       labels: dict[str, str] | None = None) -> Network:
        """`network create`: a user-defined bridge network with its own subnet."""
        driver = driver or "bridge"
        options = dict(options or {})
        if not name or not _NET_NAME.match(name):
            raise InvalidArgument(f"invalid network name {name!r}: only "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if driver in ("host", "null"):
            raise FailedPrecondition(f'only one instance of "{driver}" network is allowed')
        if driver not in DRIVERS:
            raise NotFound(f'plugin "{driver}" not found')
        with self._lock:
            net_id = _new_id()
            bridge_name = options.get(BRIDGE_NAME_OPTION) or f"br-{net_id[:12]}"
            kernel.valid_ifname(bridge_name)
            if kernel.link_exists(bridge_name):  # never adopt (and later delete) a host's
                raise FailedPrecondition(f"bridge name {bridge_name} is already in use by an "
                                         "interface of this host")
            try:
                with self.engine.begin() as conn:
                    if conn.execute(select(tables.networks.c.id).where(
                            tables.networks.c.name == name)).first():
                        raise AlreadyExists(f"network with name {name} already exists")
                    net = self._new_bridge_network(conn, net_id, name, bridge_name, subnet,
                                                   gateway, ip_range, internal, attachable,
                                                   options, labels or {})
            except IntegrityError as e:
                raise AlreadyExists(f"network with name {name} already exists") from e
            try:
                self._program_network(net)
            except Exception:
                self._unprogram_network(net)
                with self.engine.begin() as conn:
                    conn.execute(delete(tables.ip_leases).where(
                        tables.ip_leases.c.network_id == net.id))
                    conn.execute(delete(tables.networks).where(tables.networks.c.id == net.id))
                raise
            log.info("network created", extra={"network": name, "subnet": net.subnet,
                                               "bridge": net.bridge})
            return net

    def _new_bridge_network(self, conn: Connection, net_id: str, name: str, bridge_name: str,
                            subnet: str, gateway: str, ip_range: str, internal: bool,
                            attachable: bool, options: dict[str, str],
                            labels: dict[str, str]) -> Network:
        existing = [IPv4Network(s) for (s,) in conn.execute(
            select(tables.networks.c.subnet).where(tables.networks.c.subnet.is_not(None)))]
        if conn.execute(select(tables.networks.c.id).where(
                tables.networks.c.bridge == bridge_name)).first():
            raise AlreadyExists(f"bridge name {bridge_name} is already used by another network")
        if subnet:
            net = parse_subnet(subnet)
            if any(net.overlaps(o) for o in existing):
                raise FailedPrecondition("Pool overlaps with other one on this address space")
        else:
            if gateway or ip_range:
                raise InvalidArgument("a gateway or ip-range needs a --subnet")
            net = _pick_subnet(existing, self._routes_to_avoid())
        if gateway:
            try:
                gw = IPv4Address(gateway)
            except ValueError as e:
                raise InvalidArgument(f"invalid gateway address {gateway}") from e
            if gw not in net:
                raise InvalidArgument(f"gateway {gateway} is not in subnet {net}")
        else:
            gw = next(net.hosts())
        rng: IPv4Network | None = None
        if ip_range:
            rng = parse_subnet(ip_range)
            if not rng.subnet_of(net):
                raise InvalidArgument(f"ip-range {ip_range} is not in subnet {net}")
        record = Network(id=net_id, name=name, driver="bridge", bridge=bridge_name,
                         subnet=str(net), gateway=str(gw), ip_range=str(rng) if rng else None,
                         internal=internal, attachable=attachable, options=options,
                         labels=labels)
        conn.execute(insert(tables.networks).values(**network_values(record)))
        self.ipam.reserve(net_id, str(gw), GATEWAY_OWNER, conn)
        return record

    def remove_network(self, ref: str) -> None:
        """`network rm`: refused for built-ins and networks with members."""
        with self._lock:
            net = self.get_network(ref)
            if net.builtin:
                raise FailedPrecondition(f"{net.name} is a pre-defined network and cannot be "
                                         "removed")
            with self.engine.begin() as conn:
                members = self._endpoints(conn, network_id=net.id)
                if members:
                    raise FailedPrecondition(f"error while removing network: network "
                                             f"{net.name} id {net.id} has active endpoints")
                conn.execute(delete(tables.ip_leases).where(
                    tables.ip_leases.c.network_id == net.id))
                conn.execute(delete(tables.networks).where(tables.networks.c.id == net.id))
            self._unprogram_network(net)

    def prune_networks(self, labels: dict[str, str] | None = None) -> list[str]:
        """`network prune`: every user network without members; returns their names."""
        removed = []
        for net in self.list_networks():
            if net.builtin or (labels and any(net.labels.get(k) != v
                                              for k, v in labels.items())):
                continue
            try:
                self.remove_network(net.id)
            except FailedPrecondition:
                continue
            removed.append(net.name)
        return removed

    def inspect_network(self, ref: str) -> dict[str, Any]:
        """Docker's `network inspect` JSON, with "Containers" filled in."""
        net = self.get_network(ref)
        return self.network_json(net, with_containers=True)

    def network_json(self, net: Network, *, with_containers: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": net.name, "Id": net.id,
            "Created": net.created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "Scope": net.scope, "Driver": net.driver, "EnableIPv4": net.driver == "bridge",
            "EnableIPv6": False, "IPAM": net.ipam_json(), "Internal": net.internal,
            "Attachable": net.attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": {}, "Options": dict(net.options),
            "Labels": dict(net.labels)}
        if with_containers:
            prefix = IPv4Network(net.subnet).prefixlen if net.subnet else 0
            for ep in self.endpoints_on(net.id):
                if not ep.active:
                    continue
                out["Containers"][ep.container_id] = {
                    "Name": self._container_name(ep.container_id), "EndpointID": ep.id,
                    "MacAddress": ep.mac_address,
                    "IPv4Address": f"{ep.ipv4_address}/{prefix}" if ep.ipv4_address else "",
                    "IPv6Address": ""}
        return out

    def _container_name(self, container_id: str) -> str:
        try:
            return str(self.containers.get(container_id).name)
        except NotFound:
            return ""

    # ======================================================= container membership
    def _mode_network(self, container: Container) -> str | None:
        """The network the container's NetworkMode names, or None for modes that own no
        endpoint (host's namespace, another container's)."""
        mode = container.network_mode
        if mode == "host" or mode.startswith("container:"):
            return None
        return mode  # bridge, none, or a user network name

    def create_endpoints(self, container: Container,
                         endpoints_config: dict[str, dict[str, Any]] | None = None) -> None:
        """At create: record the container as a member of its NetworkMode network and of
        any other network in NetworkingConfig.EndpointsConfig ({name: EndpointSettings})."""
        mode = container.network_mode
        if mode.startswith("container:") and not mode.removeprefix("container:"):
            raise InvalidArgument("invalid container format container:<name|id>")
        first = self._mode_network(container)
        wanted: dict[str, dict[str, Any]] = {}
        if first is not None:
            wanted[first] = dict((endpoints_config or {}).get(first) or {})
        for name, cfg in (endpoints_config or {}).items():
            if name not in wanted:
                if first in ("none",) or first is None:
                    raise InvalidArgument("conflicting options: a container in host, none "
                                          "or container: network mode cannot join other "
                                          "networks")
                wanted[name] = dict(cfg or {})
        with self._lock:
            resolved = [(self.get_network(name), cfg) for name, cfg in wanted.items()]
            for net, cfg in resolved:
                self._validate_endpoint_config(net, cfg)
            with self.engine.begin() as conn:
                for net, cfg in resolved:
                    self._add_member(conn, net, container.id, cfg)

    def _validate_endpoint_config(self, net: Network, cfg: dict[str, Any]) -> None:
        ipam_cfg = cfg.get("IPAMConfig") or {}
        if ipam_cfg.get("IPv4Address") and not net.user_defined:
            raise InvalidArgument("user specified IP address is supported on user defined "
                                  "networks only")
        if cfg.get("Aliases") and not net.user_defined:
            raise InvalidArgument("network-scoped alias is supported only for containers in "
                                  "user defined networks")

    def _add_member(self, conn: Connection, net: Network, container_id: str,
                    cfg: dict[str, Any]) -> Endpoint:
        e = tables.endpoints
        if conn.execute(select(e.c.id).where(e.c.network_id == net.id,
                                             e.c.container_id == container_id)).first():
            raise AlreadyExists(f"endpoint with name {self._container_name(container_id)} "
                                f"already exists in network {net.name}")
        ep = Endpoint(id=_new_id(), network_id=net.id, container_id=container_id,
                      aliases=list(cfg.get("Aliases") or []), config=cfg)
        conn.execute(insert(e).values(id=ep.id, network_id=net.id, container_id=container_id,
                                      ipv4_address=None, mac_address="", host_ifname=None,
                                      ifname="eth0", aliases=ep.aliases, config=cfg,
                                      active=False, created_at=_now()))
        return ep

    def remove_endpoints(self, container: Container) -> None:
        """At container removal: detach and forget every membership."""
        with self._lock:
            self.detach(container)
            with self.engine.begin() as conn:
                conn.execute(delete(tables.endpoints).where(
                    tables.endpoints.c.container_id == container.id))

    def connect(self, network_ref: str, container: Container,
                endpoint_config: dict[str, Any] | None = None) -> None:
        """`network connect`: membership now, a live interface if the container runs."""
        cfg = dict(endpoint_config or {})
        with self._lock:
            net = self.get_network(network_ref)
            mode = container.network_mode
            if net.driver in ("host", "null") or mode == "host":
                raise FailedPrecondition("container cannot be disconnected from host network "
                                         "or connected to host network")
            if mode == "none" or mode.startswith("container:"):
                raise FailedPrecondition("container sharing network namespace with another "
                                         "container or host cannot be connected to any other "
                                         "network")
            self._validate_endpoint_config(net, cfg)
            with self.engine.begin() as conn:
                ep = self._add_member(conn, net, container.id, cfg)
            sandbox = str(container.network_settings.get("SandboxKey") or "")
            if container.state.running and sandbox and os.path.exists(sandbox):
                try:
                    self._activate(container, net, ep, sandbox, primary=False)
                except Exception:
                    with self.engine.begin() as conn:
                        conn.execute(delete(tables.endpoints).where(
                            tables.endpoints.c.id == ep.id))
                    raise
                container.network_settings = self.settings_json(container, sandbox)
                with self._files_lock:
                    self._write_files(container)
                    self._refresh_peers(net.id, exclude=container.id)

    def disconnect(self, network_ref: str, container: Container, force: bool = False) -> None:
        """`network disconnect`: remove the interface (if running) and the membership.
        (`force` is accepted for Docker's API; there is no cluster state to override.)"""
        with self._lock:
            net = self.get_network(network_ref)
            if net.driver == "host":
                raise FailedPrecondition("container cannot be disconnected from host network "
                                         "or connected to host network")
            with self.engine.connect() as conn:
                eps = self._endpoints(conn, container_id=container.id, network_id=net.id)
            if not eps:
                raise FailedPrecondition(f"container {container.id} is not connected to "
                                         f"network {net.name}")
            ep = eps[0]
            if ep.active:
                self._deactivate(container, net, ep)
            with self.engine.begin() as conn:
                conn.execute(delete(tables.endpoints).where(tables.endpoints.c.id == ep.id))
            with self._files_lock:
                if container.state.running:
                    sandbox = str(container.network_settings.get("SandboxKey") or "")
                    container.network_settings = self.settings_json(container, sandbox)
                    self._write_files(container)
                self._refresh_peers(net.id, exclude=container.id)

    # ============================================================ start-path API
    def sandbox_path(self, container: Container) -> str:
        return os.path.join(self.options.netns_dir, container.id)

    def create_sandbox(self, container: Container) -> str | None:
        """The network namespace the container's OCI spec should name: a new one kept
        at <state>/netns/<id> (bridge, user networks, none), None for the host's, or the
        namespace of the container named by `container:NAME`."""
        mode = container.network_mode
        if mode == "host":
            return None
        if mode.startswith("container:"):
            other = self.containers.get(mode.removeprefix("container:"))
            if other.id == container.id:
                raise InvalidArgument("cannot join own network namespace")
            if not other.state.running or not other.state.pid:
                raise FailedPrecondition(f"cannot join network of a non running container: "
                                         f"{other.id}")
            return kernel.netns_path_of_pid(other.state.pid)
        path = self.sandbox_path(container)
        if os.path.exists(path):
            kernel.remove_netns(path)
        return kernel.create_netns(path)

    def remove_sandbox(self, container: Container) -> None:
        path = self.sandbox_path(container)
        if os.path.exists(path):
            kernel.remove_netns(path)

    def attach(self, container: Container, netns_path: str | None) -> dict[str, Any]:
        """Give the container its networks inside `netns_path` (from `create_sandbox`):
        addresses from IPAM, veths on the bridges, published ports, and its hosts,
        resolv.conf and hostname files. Returns Docker's NetworkSettings JSON (also set
        on `container.network_settings`); on failure nothing is left attached."""
        mode = container.network_mode
        if mode.startswith("container:"):
            other = self.containers.get(mode.removeprefix("container:"))
            self._copy_files_from(container, other)
            container.network_settings = self.empty_settings(netns_path or "")
            return container.network_settings
        if mode == "host" or netns_path is None:
            self._write_host_files(container)
            container.network_settings = self.settings_json(container, "")
            return container.network_settings
        with self.engine.connect() as conn:
            eps = self._endpoints(conn, container_id=container.id)
        if not eps and mode != "none":
            self.create_endpoints(container)
            with self.engine.connect() as conn:
                eps = self._endpoints(conn, container_id=container.id)
        touched: set[str] = set()
        try:
            primary = self._mode_network(container)
            for i, ep in enumerate(sorted(eps, key=lambda e: 0 if self._net_name(
                    e.network_id) == primary else 1)):
                net = self._network_by_id_fresh(ep.network_id)
                if net.driver == "null":
                    continue
                self._activate(container, net, ep, netns_path, primary=(i == 0),
                               ifname=f"eth{i}")
                touched.add(net.id)
        except Exception:
            self.detach(container)
            raise
        container.network_settings = self.settings_json(container, netns_path)
        with self._files_lock:
            self._write_files(container)
            for nid in touched:
                self._refresh_peers(nid, exclude=container.id)
        return container.network_settings

    def detach(self, container: Container) -> dict[str, Any]:
        """Undo `attach`: unpublish ports, delete veths, release addresses. Safe to call
        again, or for a container whose namespace is already gone."""
        with self.engine.connect() as conn:
            eps = self._endpoints(conn, container_id=container.id, active=True)
        nets = set()
        for ep in eps:
            net = self._network_by_id_fresh(ep.network_id)
            self._deactivate(container, net, ep)
            nets.add(net.id)
        with self._files_lock:
            for nid in nets:
                self._refresh_peers(nid, exclude=container.id)
        if container.network_settings:
            container.network_settings = self.settings_json(container, "", running=False)
        return container.network_settings

    def renamed(self, container: Container) -> None:
        """After `rename`: peers on shared user networks learn the new name (their
        hosts files), as Docker's embedded DNS would answer it."""
        with self.engine.connect() as conn:
            nets = {ep.network_id for ep in self._endpoints(
                conn, container_id=container.id, active=True)}
        with self._files_lock:
            for nid in nets:
                self._refresh_peers(nid, exclude=container.id)
        if container.network_settings:
            sandbox = str(container.network_settings.get("SandboxKey") or "")
            container.network_settings = self.settings_json(
                container, sandbox, running=container.state.running)

    def etc_mounts(self, container: Container) -> list[dict[str, Any]]:
        """OCI mount entries binding the container's hosts, resolv.conf and hostname
        files over the image's (Docker mounts them read-write, rprivate)."""
        return [{"destination": dest, "type": "bind", "source": src,
                 "options": ["rbind", "rprivate"]}
                for src, dest in ((container.hosts_path, "/etc/hosts"),
                                  (container.resolv_conf_path, "/etc/resolv.conf"),
                                  (container.hostname_path, "/etc/hostname"))]

    def reconcile(self, running: set[str]) -> list[str]:
        """After a daemon restart: detach every container that still holds endpoints but
        is no longer running (it exited while dockerd was down) and drop its sandbox.
        Returns the ids cleaned up."""
        with self.engine.connect() as conn:
            stale = {ep.container_id for ep in self._endpoints(conn, active=True)} - running
        for cid in sorted(stale):
            try:
                c = self.containers.get(cid)
            except NotFound:
                c = Container(id=cid, name="")
            self.detach(c)
            self.remove_sandbox(c)
        return sorted(stale)

    def _net_name(self, network_id: str) -> str:
        return self._network_by_id_fresh(network_id).name

    def _network_by_id_fresh(self, network_id: str) -> Network:
        with self.engine.connect() as conn:
            return self._network_by_id(conn, network_id)

    def _activate(self, container: Container, net: Network, ep: Endpoint, netns_path: str,
                  *, primary: bool, ifname: str | None = None) -> None:
        """Lease an address, make the veth, publish ports; all or nothing."""
        if ifname is None:
            ifname = f"eth{len(kernel.interfaces_in_netns(netns_path)) - 1}"
        want = (ep.config.get("IPAMConfig") or {}).get("IPv4Address") or ""
        host_if = kernel.random_veth_name()
        mappings = portalloc.bindings_to_mappings(container.port_bindings) if primary else []
        with _programming_ports(container, ep):
            for m in mappings:
                if m.host_port:
                    probe_bind(m.host_ip, m.host_port, m.proto)
        with self.engine.begin() as conn:
            if want:
                ip = self.ipam.reserve(net.id, want, ep.id, conn)
            else:
                ip = self.ipam.allocate(net.id, ep.id, conn)
            with _programming_ports(container, ep):
                published = portalloc.allocate(conn, mappings, container_id=container.id,
                                               endpoint_id=ep.id, container_ip=str(ip))
            mac = kernel.mac_for_ip(ip)
            conn.execute(update(tables.endpoints).where(tables.endpoints.c.id == ep.id).values(
                ipv4_address=str(ip), mac_address=mac, host_ifname=host_if, ifname=ifname,
                active=True))
        try:
            prefix = IPv4Network(net.subnet or "").prefixlen
            kernel.create_veth(host_ifname=host_if, bridge=net.bridge or "",
                               netns_path=netns_path, ifname=ifname,
                               address=IPv4Interface(f"{ip}/{prefix}"), mac=mac,
                               gateway=IPv4Address(net.gateway) if primary and net.gateway
                               and not net.internal else None, mtu=self.options.mtu)
            if self.nat is not None:
                for m in published:
                    self.nat.publish(net.bridge or "", m, str(ip))
        except Exception:
            ep.active, ep.ipv4_address, ep.host_ifname = True, str(ip), host_if
            self._deactivate(container, net, ep)
            raise
        log.info("endpoint attached", extra={"container": container.id, "network": net.name,
                                             "ip": str(ip), "ports": len(published)})

    def _deactivate(self, container: Container, net: Network, ep: Endpoint) -> None:
        """Unpublish, delete the veth, release the address and ports (idempotent)."""
        with self.engine.connect() as conn:
            rows = portalloc.of_endpoint(conn, ep.id)
        if self.nat is not None:
            for m, cip in rows:
                with contextlib.suppress(PydError):
                    self.nat.unpublish(net.bridge or "", m, cip)
        if ep.host_ifname:
            kernel.delete_veth(ep.host_ifname)
        with self.engine.begin() as conn:
            portalloc.release(conn, ep.id)
            conn.execute(delete(tables.ip_leases).where(
                tables.ip_leases.c.network_id == net.id, tables.ip_leases.c.owner == ep.id))
            conn.execute(update(tables.endpoints).where(tables.endpoints.c.id == ep.id).values(
                ipv4_address=None, mac_address="", host_ifname=None, active=False))

    # ============================================================ settings JSON
    def empty_settings(self, sandbox_key: str) -> dict[str, Any]:
        return {"Bridge": "", "SandboxID": "", "SandboxKey": sandbox_key, "Ports": {},
                "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "MacAddress": "", "Networks": {}}

    def settings_json(self, container: Container, sandbox_key: str, *,
                      running: bool = True) -> dict[str, Any]:
        """Docker's NetworkSettings for the container's current endpoints."""
        out = self.empty_settings(sandbox_key)
        out["SandboxID"] = container.id if sandbox_key else ""
        mode = container.network_mode
        if mode == "host":
            host = self._builtin("host")
            out["Networks"]["host"] = self._endpoint_settings(host, None)
            return out
        with self.engine.connect() as conn:
            eps = self._endpoints(conn, container_id=container.id)
            for ep in eps:
                net = self._network_by_id(conn, ep.network_id)
                out["Networks"][net.name] = self._endpoint_settings(net, ep)
                if net.is_default_bridge and ep.active:
                    es = out["Networks"][net.name]
                    out.update(EndpointID=ep.id, Gateway=es["Gateway"],
                               IPAddress=es["IPAddress"], IPPrefixLen=es["IPPrefixLen"],
                               MacAddress=ep.mac_address)
                if running and ep.active:
                    for m, _cip in portalloc.of_endpoint(conn, ep.id):
                        out["Ports"].setdefault(m.key, []).append(
                            {"HostIp": m.host_ip, "HostPort": str(m.host_port)})
        if running:
            for key in (container.config.get("ExposedPorts") or {}):
                out["Ports"].setdefault(key, None)
            for key in container.port_bindings:
                out["Ports"].setdefault(key, None)
        if mode == "none":
            out["Networks"].setdefault("none", self._endpoint_settings(self._builtin("none"),
                                                                       None))
        return out

    def _builtin(self, name: str) -> Network:
        return self.get_network(name)

    def _endpoint_settings(self, net: Network, ep: Endpoint | None) -> dict[str, Any]:
        active = ep is not None and ep.active and ep.ipv4_address
        prefix = IPv4Network(net.subnet).prefixlen if net.subnet else 0
        cfg = ep.config if ep else {}
        return {"IPAMConfig": cfg.get("IPAMConfig") or None, "Links": None,
                "Aliases": (ep.aliases or None) if ep else None,
                "MacAddress": ep.mac_address if ep and active else "",
                "DriverOpts": None, "GwPriority": 0, "NetworkID": net.id,
                "EndpointID": ep.id if ep and active else "",
                "Gateway": (net.gateway or "") if active else "",
                "IPAddress": (ep.ipv4_address or "") if ep and active else "",
                "IPPrefixLen": prefix if active else 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DNSNames": self._dns_names(net, ep) if ep and active else None}

    def _dns_names(self, net: Network, ep: Endpoint) -> list[str] | None:
        if not net.user_defined:
            return None
        name = self._container_name(ep.container_id)
        return [n for n in [name, *ep.aliases, ep.container_id[:12]] if n]

    # ============================================================ /etc files
    def _write_files(self, container: Container) -> None:
        """hosts (own addresses + peers on shared user networks), resolv.conf, hostname."""
        addresses: list[str] = []
        aliases: list[str] = []
        peers: list[tuple[str, list[str]]] = []
        with self.engine.connect() as conn:
            for ep in self._endpoints(conn, container_id=container.id, active=True):
                net = self._network_by_id(conn, ep.network_id)
                if ep.ipv4_address:
                    addresses.append(ep.ipv4_address)
                aliases += ep.aliases
                if not net.user_defined:
                    continue
                for other in self._endpoints(conn, network_id=net.id, active=True):
                    if other.container_id == container.id or not other.ipv4_address:
                        continue
                    names = self._dns_names(net, other) or []
                    peers.append((other.ipv4_address, names))
        hc = container.host_config
        resolv.write_in_place(container.hosts_path, resolv.hosts_content(
            hostname=container.hostname, domainname=container.domainname,
            addresses=addresses, aliases=aliases, peers=peers,
            extra_hosts=hc.get("ExtraHosts") or []))
        resolv.write_in_place(container.resolv_conf_path, resolv.resolv_conf_content(
            host_resolv=self.options.host_resolv, dns=hc.get("Dns") or [],
            dns_search=hc.get("DnsSearch") or [], dns_options=hc.get("DnsOptions") or []))
        resolv.write_in_place(container.hostname_path,
                              resolv.hostname_content(container.hostname))

    def write_files(self, container: Container) -> None:
        """(Re)write the container's hosts, resolv.conf and hostname files."""
        with self._files_lock:
            if container.network_mode == "host":
                self._write_host_files(container)
            else:
                self._write_files(container)

    def _write_host_files(self, container: Container) -> None:
        hc = container.host_config
        hostname = container.config.get("Hostname") or os.uname().nodename
        content = resolv.host_hosts_content(hostname)
        for ip, name in resolv.parse_extra_hosts(hc.get("ExtraHosts") or []):
            content += f"{ip}\t{name}\n"
        resolv.write_in_place(container.hosts_path, content)
        resolv.write_in_place(container.resolv_conf_path, resolv.resolv_conf_content(
            host_resolv=self.options.host_resolv, dns=hc.get("Dns") or [],
            dns_search=hc.get("DnsSearch") or [], dns_options=hc.get("DnsOptions") or [],
            host_network=True))
        resolv.write_in_place(container.hostname_path, resolv.hostname_content(hostname))

    def _copy_files_from(self, container: Container, other: Container) -> None:
        for name in ("hosts", "resolv.conf", "hostname"):
            try:
                with open(other.file(name)) as f:
                    content = f.read()
            except OSError:
                content = ""
            resolv.write_in_place(container.file(name), content)

    def _refresh_peers(self, network_id: str, *, exclude: str) -> None:
        """Rewrite the hosts files of the other running members of a user network."""
        net = self._network_by_id_fresh(network_id)
        if not net.user_defined:
            return
        for ep in self.endpoints_on(network_id):
            if ep.container_id == exclude or not ep.active:
                continue
            try:
                peer = self.containers.get(ep.container_id)
            except NotFound:
                continue
            with contextlib.suppress(OSError):
                self._write_files(peer)


@contextlib.contextmanager
def _programming_ports(container: Container, ep: Endpoint) -> Iterator[None]:
    """A host port that cannot be had fails the start with libnetwork's wording:
    "driver failed programming external connectivity on endpoint NAME (ID): ..."."""
    try:
        yield
    except FailedPrecondition as e:
        raise FailedPrecondition(
            f"driver failed programming external connectivity on endpoint "
            f"{container.name or container.short_id} ({ep.id}): {e}") from e


def filter_networks(nets: list[Network], filters: dict[str, list[str]],
                    members: dict[str, int] | None = None) -> list[Network]:
    """Docker's `network ls --filter`: driver, id (prefix), label, name (substring),
    scope, type (builtin|custom), dangling (needs `members`: network id → count)."""
    out = list(nets)
    for key, values in filters.items():
        if key == "driver":
            out = [n for n in out if n.driver in values]
        elif key == "id":
            out = [n for n in out if any(n.id.startswith(v) for v in values)]
        elif key == "name":
            out = [n for n in out if any(v in n.name for v in values)]
        elif key == "scope":
            out = [n for n in out if n.scope in values]
        elif key == "type":
            for v in values:
                if v not in ("builtin", "custom"):
                    raise InvalidArgument(f"invalid filter: 'type'='{v}'")
            out = [n for n in out if ("builtin" if n.builtin else "custom") in values]
        elif key == "label":
            def match(n: Network, expr: str) -> bool:
                k, eq, v = expr.partition("=")
                return k in n.labels and (not eq or n.labels[k] == v)
            out = [n for n in out if all(match(n, v) for v in values)]
        elif key == "dangling":
            want = values[-1].lower() in ("1", "true")
            counts = members or {}
            out = [n for n in out if (not n.builtin and counts.get(n.id, 0) == 0) == want]
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return out
