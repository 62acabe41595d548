"""SQLAlchemy views of dockerd's tables. The schema itself is made by the Alembic
revisions in pyd_db/dockerd/versions; these mirror it for queries."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

containers = Table(
    "containers", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("image", Text, nullable=False),
    Column("config", JSON, nullable=False),
    Column("host_config", JSON, nullable=False),
    Column("state", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("path", Text, nullable=False),
    Column("args", JSON, nullable=False),
    Column("network_settings", JSON, nullable=False),
    Column("mounts", JSON, nullable=False),
    Column("restart_count", Integer, nullable=False),
    Column("manually_stopped", Boolean, nullable=False),
    Column("driver", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
)

networks = Table(
    "networks", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("driver", String(64), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("bridge", String(15), nullable=True, unique=True),
    Column("subnet", String(64), nullable=True, unique=True),
    Column("gateway", String(64), nullable=True),
    Column("ip_range", String(64), nullable=True),
    Column("last_ip", String(64), nullable=True),
    Column("internal", Boolean, nullable=False),
    Column("attachable", Boolean, nullable=False),
    Column("builtin", Boolean, nullable=False),
    Column("options", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("ipam", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ip_leases = Table(
    "ip_leases", metadata,
    Column("network_id", String(64), ForeignKey("networks.id", ondelete="CASCADE"),
           primary_key=True),
    Column("address", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

endpoints = Table(
    "endpoints", metadata,
    Column("id", String(64), primary_key=True),
    Column("network_id", String(64), ForeignKey("networks.id"), nullable=False),
    Column("container_id", String(64), nullable=False),
    Column("ipv4_address", String(64), nullable=True),
    Column("mac_address", String(32), nullable=False),
    Column("host_ifname", String(15), nullable=True),
    Column("ifname", String(15), nullable=False),
    Column("aliases", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

port_mappings = Table(
    "port_mappings", metadata,
    Column("proto", String(8), primary_key=True),
    Column("host_ip", String(64), primary_key=True),
    Column("host_port", Integer, primary_key=True),
    Column("container_id", String(64), nullable=False),
    Column("endpoint_id", String(64), nullable=False),
    Column("container_ip", String(64), nullable=False),
    Column("container_port", Integer, nullable=False),
)

volumes = Table(
    "volumes", metadata,
    Column("name", String(255), primary_key=True),
    Column("driver", String(64), nullable=False),
    Column("mountpoint", Text, nullable=False),
    Column("anonymous", Boolean, nullable=False),
    Column("options", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

volume_refs = Table(
    "volume_refs", metadata,
    Column("volume", String(255), ForeignKey("volumes.name"), primary_key=True),
    Column("container_id", String(64), primary_key=True),
)

checkpoints = Table(
    "checkpoints", metadata,
    Column("container_id", String(64), nullable=False),
    Column("name", String(255), primary_key=True),
    Column("dir", Text, primary_key=True),
    Column("image_digest", String(80), nullable=False),
    Column("leave_running", Boolean, nullable=False),
    Column("lazy", Boolean, nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
