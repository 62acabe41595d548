"""pyd-dockerd's configuration. With only --root/--state given, every other path
(containerd's and the runtime's included) lives under them (DESIGN.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_ROOT = "/var/lib/pyd"
DEFAULT_STATE = "/run/pyd"


@dataclass(frozen=True)
class Config:
    root: str = DEFAULT_ROOT
    state: str = DEFAULT_STATE
    host: str = ""            # unix://PATH or fd://[N] (systemd); empty: <state>/pyd.sock
    containerd: str = ""      # unix://PATH of an external containerd; empty: supervise our own
    runtime: str = "pyd-runc"  # runc-compatible binary the shims call
    cgroup_parent: str = "pyd"  # containers' cgroups live under this (docker: /docker)
    bridge_name: str = "pyd0"  # the default network's Linux bridge (docker0 upstream)
    bip: str = ""             # the default bridge's address/prefix; empty: first free pool
    iptables: bool = True     # manage NAT and published-port rules
    # Serving checkpoints to other hosts (off unless an address is given), and the TLS
    # material for it: with all three, peers must present a certificate of this CA.
    checkpoint_listen: str = ""  # HOST:PORT
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    # The Docker Engine REST API (issue 8): its own socket, on unless turned off.
    docker_host: str = ""     # unix://PATH; empty: <state>/docker.sock
    docker_api: bool = True
    debug: bool = False

    @property
    def tls(self) -> bool:
        return bool(self.tlscacert and self.tlscert and self.tlskey)

    @property
    def docker_socket_path(self) -> str:
        """Where the Docker Engine API listens; "" when it is turned off."""
        if not self.docker_api:
            return ""
        if self.docker_host:
            return self.docker_host.removeprefix("unix://")
        return os.path.join(self.state, "docker.sock")

    @property
    def socket_activated(self) -> bool:
        """-H fd://: serve on the sockets systemd passed (pyd-dockerd.socket)."""
        return self.host.startswith("fd://")

    @property
    def socket_path(self) -> str:
        """Where gRPC itself listens. Socket-activated, a private socket beside the
        activated one: connections to that are relayed here (pyd_proto.activation)."""
        if self.socket_activated:
            return os.path.join(self.state, "dockerd.sock")
        if self.host:
            return self.host.removeprefix("unix://")
        return os.path.join(self.state, "pyd.sock")

    @property
    def db_path(self) -> str:
        return os.path.join(self.root, "pyd.db")

    @property
    def containerd_root(self) -> str:
        return os.path.join(self.root, "containerd")

    @property
    def containerd_state(self) -> str:
        return os.path.join(self.state, "containerd")

    @property
    def containerd_address(self) -> str:
        """The containerd socket path: the one given, or the supervised one's."""
        if self.containerd:
            return self.containerd.removeprefix("unix://")
        return os.path.join(self.containerd_state, "containerd.sock")

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.state, "runc")

    @property
    def containers_root(self) -> str:
        return os.path.join(self.root, "containers")

    @property
    def volumes_root(self) -> str:
        return os.path.join(self.root, "volumes")

    @property
    def netns_dir(self) -> str:
        """Network namespaces of containers, kept as bind-mounted files."""
        return os.path.join(self.state, "netns")
