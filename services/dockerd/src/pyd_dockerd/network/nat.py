"""iptables rules for bridge networks (libnetwork's iptables.go and bridge/setup_ip_tables):
outbound MASQUERADE per subnet, DNAT per published port, FORWARD accepts — all in
chains of pyd's own, named after the stack's bridge so two stacks never touch each
other's rules, and removed again when a port is unpublished or the stack shuts down.

Loopback publishing: pyd does what Docker does with `--userland-proxy=false`, not
docker-proxy: the OUTPUT chain DNATs locally addressed packets (127.0.0.1 too),
`route_localnet=1` on the bridge lets 127/8-sourced packets leave through it, and a
`--src-type LOCAL -o BRIDGE` MASQUERADE gives them the bridge's address as source.
No process per port, so `run -p` costs no extra memory or start-up time.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass

from pyd_dockerd.network.ports import PortMapping
from pyd_proto.errdefs import FailedPrecondition, Internal

CHAIN_MAX = 28


class IptablesError(Internal):
    pass


def chain_prefix(bridge_name: str) -> str:
    """"PYD" for the default bridge pyd0; "PYD-<bridge>" otherwise (truncated so every
    chain name stays within iptables' 28 characters)."""
    if bridge_name == "pyd0":
        return "PYD"
    return "PYD-" + bridge_name[:CHAIN_MAX - len("PYD-") - len("-POSTROUTING")]


@dataclass(frozen=True)
class Chains:
    dnat: str          # nat: jumped to from PREROUTING and OUTPUT for local destinations
    postrouting: str   # nat: MASQUERADE
    forward: str       # filter: jumped to from FORWARD
    iso1: str          # filter: traffic leaving one pyd bridge for another ...
    iso2: str          # filter: ... is dropped (Docker's two isolation stages)

    @classmethod
    def for_prefix(cls, prefix: str) -> Chains:
        return cls(prefix, f"{prefix}-POSTROUTING", f"{prefix}-FORWARD", f"{prefix}-ISO1",
                   f"{prefix}-ISO2")

    def all(self) -> list[tuple[str, str]]:
        return [("nat", self.dnat), ("nat", self.postrouting), ("filter", self.forward),
                ("filter", self.iso1), ("filter", self.iso2)]


class Iptables:
    """Runs iptables (`-w` so concurrent callers queue instead of failing)."""

    def __init__(self, binary: str = "iptables") -> None:
        path = shutil.which(binary) or binary
        self.binary = path
        self._lock = threading.Lock()

    def run(self, table: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "-w", "-t", table, *args]
        with self._lock:
            res = subprocess.run(argv, capture_output=True, text=True, check=False)
        if check and res.returncode != 0:
            raise IptablesError(f"iptables failed: {' '.join(argv[1:])}: "
                                f"{res.stderr.strip() or res.stdout.strip()}")
        return res

    def exists(self, table: str, chain: str, rule: list[str]) -> bool:
        return self.run(table, "-C", chain, *rule, check=False).returncode == 0

    def ensure(self, table: str, chain: str, rule: list[str], *, insert: bool = False) -> None:
        if not self.exists(table, chain, rule):
            self.run(table, "-I" if insert else "-A", chain, *rule)

    def delete(self, table: str, chain: str, rule: list[str]) -> None:
        # A rule added twice by a crashed predecessor goes too.
        while self.exists(table, chain, rule):
            self.run(table, "-D", chain, *rule)

    def chain_exists(self, table: str, chain: str) -> bool:
        return self.run(table, "-n", "-L", chain, check=False).returncode == 0

    def ensure_chain(self, table: str, chain: str) -> None:
        if not self.chain_exists(table, chain):
            self.run(table, "-N", chain)

    def remove_chain(self, table: str, chain: str) -> None:
        if self.chain_exists(table, chain):
            self.run(table, "-F", chain)
            self.run(table, "-X", chain)

    def rules(self, table: str, chain: str) -> list[str]:
        """`iptables -S CHAIN` lines (empty when the chain is absent)."""
        res = self.run(table, "-S", chain, check=False)
        return res.stdout.splitlines() if res.returncode == 0 else []


class Nat:
    """pyd's rules for one stack (one daemon), in chains named after `prefix`."""

    def __init__(self, prefix: str, iptables: Iptables | None = None) -> None:
        self.ipt = iptables or Iptables()
        self.chains = Chains.for_prefix(prefix)

    # --- the stack's chains and the jumps into them ------------------------------
    def _jumps(self) -> list[tuple[str, str, list[str]]]:
        c = self.chains
        local = ["-m", "addrtype", "--dst-type", "LOCAL", "-j", c.dnat]
        return [("nat", "PREROUTING", local), ("nat", "OUTPUT", local),
                ("nat", "POSTROUTING", ["-j", c.postrouting]),
                ("filter", "FORWARD", ["-j", c.forward])]

    def setup(self) -> None:
        """Create the chains and the jumps (idempotent: adopts a crashed daemon's)."""
        c = self.chains
        for table, chain in c.all():
            self.ipt.ensure_chain(table, chain)
        self.ipt.ensure("filter", c.forward, ["-j", c.iso1], insert=True)
        for table, chain, rule in self._jumps():
            self.ipt.ensure(table, chain, rule, insert=True)

    def teardown(self) -> None:
        """Remove the jumps and the chains with every rule in them."""
        for table, chain, rule in self._jumps():
            self.ipt.delete(table, chain, rule)
        present = [(t, ch) for t, ch in self.chains.all() if self.ipt.chain_exists(t, ch)]
        for table, chain in present:  # flush all first: the chains jump to each other
            self.ipt.run(table, "-F", chain)
        for table, chain in present:
            self.ipt.run(table, "-X", chain)

    def present(self) -> bool:
        return self.ipt.chain_exists("nat", self.chains.dnat)

    # --- per network ---------------------------------------------------------------
    def _network_rules(self, bridge: str, subnet: str,
                       internal: bool) -> list[tuple[str, str, list[str]]]:
        c = self.chains
        isolation = [("filter", c.iso1, ["-i", bridge, "!", "-o", bridge, "-j", c.iso2]),
                     ("filter", c.iso2, ["-o", bridge, "-j", "DROP"])]
        if internal:
            return [*isolation,
                    ("filter", c.forward, ["-i", bridge, "!", "-o", bridge, "-j", "DROP"]),
                    ("filter", c.forward, ["!", "-i", bridge, "-o", bridge, "-j", "DROP"])]
        return [*isolation,
            ("nat", c.postrouting, ["-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE"]),
            # Loopback-published ports: host-local sources get the bridge's address.
            ("nat", c.postrouting, ["-o", bridge, "-m", "addrtype", "--src-type", "LOCAL",
                                    "-j", "MASQUERADE"]),
            ("filter", c.forward, ["-o", bridge, "-m", "conntrack", "--ctstate",
                                   "RELATED,ESTABLISHED", "-j", "ACCEPT"]),
            ("filter", c.forward, ["-i", bridge, "!", "-o", bridge, "-j", "ACCEPT"]),
            ("filter", c.forward, ["-i", bridge, "-o", bridge, "-j", "ACCEPT"]),
        ]

    def add_network(self, bridge: str, subnet: str, *, internal: bool = False) -> None:
        for table, chain, rule in self._network_rules(bridge, subnet, internal):
            self.ipt.ensure(table, chain, rule)

    def remove_network(self, bridge: str, subnet: str, *, internal: bool = False) -> None:
        for table, chain, rule in self._network_rules(bridge, subnet, internal):
            self.ipt.delete(table, chain, rule)

    # --- per published port --------------------------------------------------------
    def _port_rules(self, bridge: str, m: PortMapping,
                    container_ip: str) -> list[tuple[str, str, list[str]]]:
        c = self.chains
        dst = [] if m.host_ip in ("", "0.0.0.0") else ["-d", f"{m.host_ip}/32"]
        return [
            ("nat", c.dnat, ["-p", m.proto, *dst, "-m", m.proto, "--dport", str(m.host_port),
                             "-j", "DNAT", "--to-destination",
                             f"{container_ip}:{m.container_port}"]),
            # Hairpin: the container reaching its own published port.
            ("nat", c.postrouting, ["-s", f"{container_ip}/32", "-d", f"{container_ip}/32",
                                    "-p", m.proto, "-m", m.proto, "--dport",
                                    str(m.container_port), "-j", "MASQUERADE"]),
            ("filter", c.forward, ["-d", f"{container_ip}/32", "!", "-i", bridge, "-o",
                                   bridge, "-p", m.proto, "-m", m.proto, "--dport",
                                   str(m.container_port), "-j", "ACCEPT"]),
        ]

    def publish(self, bridge: str, m: PortMapping, container_ip: str) -> None:
        for table, chain, rule in self._port_rules(bridge, m, container_ip):
            self.ipt.ensure(table, chain, rule)

    def unpublish(self, bridge: str, m: PortMapping, container_ip: str) -> None:
        for table, chain, rule in self._port_rules(bridge, m, container_ip):
            self.ipt.delete(table, chain, rule)


def probe_bind(host_ip: str, host_port: int, proto: str) -> None:
    """Refuse a host port another process of this namespace already listens on, with
    the message Docker gives when its proxy cannot bind."""
    if proto not in ("tcp", "udp"):
        return
    ip = host_ip or "0.0.0.0"
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, host_port))
    except OSError as e:
        why = e.strerror.lower() if e.strerror else str(e)
        raise FailedPrecondition(f"Error starting userland proxy: listen {proto}4 "
                                 f"{ip}:{host_port}: bind: {why}") from e
    finally:
        s.close()
