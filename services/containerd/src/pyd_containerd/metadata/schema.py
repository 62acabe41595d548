"""SQLAlchemy tables for containerd's metadata (created by the Alembic revisions in db/).

Every record lives under its namespace, as upstream's bbolt buckets
`v1/<namespace>/{containers,images,content,snapshots,leases}` do. Labels and
other small maps are JSON text; protobuf `Any` values are their serialized bytes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

namespaces = Table(
    "namespaces", metadata,
    Column("name", String(76), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

namespace_labels = Table(
    "namespace_labels", metadata,
    Column("namespace", String(76), ForeignKey("namespaces.name", ondelete="CASCADE"),
           primary_key=True),
    Column("key", String(4096), primary_key=True),
    Column("value", Text, nullable=False),
)

containers = Table(
    "containers", metadata,
    Column("namespace", String(76), ForeignKey("namespaces.name"), primary_key=True),
    Column("id", String(76), primary_key=True),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("image", Text, nullable=False, server_default=""),
    Column("runtime_name", Text, nullable=False, server_default=""),
    Column("runtime_options", LargeBinary, nullable=True),
    Column("spec", LargeBinary, nullable=True),
    Column("snapshotter", Text, nullable=False, server_default=""),
    Column("snapshot_key", Text, nullable=False, server_default=""),
    Column("sandbox", Text, nullable=False, server_default=""),
    Column("extensions", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

images = Table(
    "images", metadata,
    Column("namespace", String(76), ForeignKey("namespaces.name"), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("target_media_type", Text, nullable=False),
    Column("target_digest", Text, nullable=False),
    Column("target_size", BigInteger, nullable=False),
    Column("target_annotations", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

content = Table(
    "content", metadata,
    Column("namespace", String(76), ForeignKey("namespaces.name"), primary_key=True),
    Column("digest", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

snapshots = Table(
    "snapshots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("namespace", String(76), ForeignKey("namespaces.name"), nullable=False),
    Column("snapshotter", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("parent", Text, nullable=False, server_default=""),
    Column("kind", String(16), nullable=False),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("namespace", "snapshotter", "key", name="uq_snapshots_key"),
    sqlite_autoincrement=True,
)

leases = Table(
    "leases", metadata,
    Column("namespace", String(76), ForeignKey("namespaces.name"), primary_key=True),
    Column("id", String(76), primary_key=True),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

lease_resources = Table(
    "lease_resources", metadata,
    Column("namespace", String(76), primary_key=True),
    Column("lease", String(76), primary_key=True),
    Column("type", Text, primary_key=True),
    Column("resource", Text, primary_key=True),
    ForeignKeyConstraint(["namespace", "lease"], ["leases.namespace", "leases.id"],
                         ondelete="CASCADE"),
)
