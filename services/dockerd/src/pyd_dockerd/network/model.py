"""Network and endpoint records as the controller reads them from dockerd's database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyd_dockerd.store import tables

DEFAULT_BRIDGE = "bridge"
BUILTIN_NAMES = ("bridge", "host", "none")
# Options Docker shows on its default bridge (docker network inspect bridge).
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


@dataclass
class Network:
    id: str
    name: str
    driver: str                    # bridge | host | null
    scope: str = "local"
    bridge: str | None = None      # the Linux bridge device
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    internal: bool = False
    attachable: bool = False
    builtin: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    ipam: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_default_bridge(self) -> bool:
        return self.builtin and self.name == DEFAULT_BRIDGE

    @property
    def user_defined(self) -> bool:
        """Networks whose members find each other by name (not the default bridge)."""
        return self.driver == "bridge" and not self.builtin

    @classmethod
    def from_row(cls, row: Any) -> Network:
        m = row._mapping
        created = m["created_at"]
        return cls(id=m["id"], name=m["name"], driver=m["driver"], scope=m["scope"],
                   bridge=m["bridge"], subnet=m["subnet"], gateway=m["gateway"],
                   ip_range=m["ip_range"], internal=bool(m["internal"]),
                   attachable=bool(m["attachable"]), builtin=bool(m["builtin"]),
                   options=dict(m["options"] or {}), labels=dict(m["labels"] or {}),
                   ipam=dict(m["ipam"] or {}),
                   created=created.replace(tzinfo=UTC) if created.tzinfo is None else created)

    def ipam_json(self) -> dict[str, Any]:
        """Docker's "IPAM" block."""
        config: list[dict[str, Any]] = []
        if self.subnet:
            entry: dict[str, Any] = {"Subnet": self.subnet}
            if self.gateway:
                entry["Gateway"] = self.gateway
            if self.ip_range:
                entry["IPRange"] = self.ip_range
            config.append(entry)
        return {"Driver": "default", "Options": dict(self.ipam.get("Options") or {}),
                "Config": config}


@dataclass
class Endpoint:
    id: str
    network_id: str
    container_id: str
    ipv4_address: str | None = None
    mac_address: str = ""
    host_ifname: str | None = None
    ifname: str = "eth0"
    aliases: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    active: bool = False

    @classmethod
    def from_row(cls, row: Any) -> Endpoint:
        m = row._mapping
        return cls(id=m["id"], network_id=m["network_id"], container_id=m["container_id"],
                   ipv4_address=m["ipv4_address"], mac_address=m["mac_address"],
                   host_ifname=m["host_ifname"], ifname=m["ifname"],
                   aliases=list(m["aliases"] or []), config=dict(m["config"] or {}),
                   active=bool(m["active"]))


def network_values(n: Network) -> dict[str, Any]:
    return {"id": n.id, "name": n.name, "driver": n.driver, "scope": n.scope,
            "bridge": n.bridge, "subnet": n.subnet, "gateway": n.gateway,
            "ip_range": n.ip_range, "internal": n.internal, "attachable": n.attachable,
            "builtin": n.builtin, "options": n.options, "labels": n.labels, "ipam": n.ipam,
            "created_at": n.created}


__all__ = ["BUILTIN_NAMES", "DEFAULT_BRIDGE", "Endpoint", "Network", "network_values",
           "tables"]
