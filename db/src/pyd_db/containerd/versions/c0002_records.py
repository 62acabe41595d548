"""containerd: containers, images, content, snapshots, leases.

Every record lives under its namespace (bbolt's `v1/<namespace>/...` buckets);
labels and small maps are JSON text, protobuf `Any` values their serialized bytes.

Revision ID: c0002
Revises: c0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None


def _ns() -> sa.Column[Any]:
    return sa.Column("namespace", sa.String(76), sa.ForeignKey("namespaces.name"),
                     primary_key=True)


def _times() -> list[sa.Column[Any]]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "containers", _ns(),
        sa.Column("id", sa.String(76), primary_key=True),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        sa.Column("image", sa.Text, nullable=False, server_default=""),
        sa.Column("runtime_name", sa.Text, nullable=False, server_default=""),
        sa.Column("runtime_options", sa.LargeBinary, nullable=True),
        sa.Column("spec", sa.LargeBinary, nullable=True),
        sa.Column("snapshotter", sa.Text, nullable=False, server_default=""),
        sa.Column("snapshot_key", sa.Text, nullable=False, server_default=""),
        sa.Column("sandbox", sa.Text, nullable=False, server_default=""),
        sa.Column("extensions", sa.LargeBinary, nullable=True),
        *_times(),
    )
    op.create_table(
        "images", _ns(),
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        sa.Column("target_media_type", sa.Text, nullable=False),
        sa.Column("target_digest", sa.Text, nullable=False),
        sa.Column("target_size", sa.BigInteger, nullable=False),
        sa.Column("target_annotations", sa.Text, nullable=False, server_default="{}"),
        *_times(),
    )
    op.create_table(
        "content", _ns(),
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        *_times(),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(76), sa.ForeignKey("namespaces.name"), nullable=False),
        sa.Column("snapshotter", sa.String(64), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("parent", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        *_times(),
        sa.UniqueConstraint("namespace", "snapshotter", "key", name="uq_snapshots_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_snapshots_parent", "snapshots", ["namespace", "snapshotter", "parent"])
    op.create_table(
        "leases", _ns(),
        sa.Column("id", sa.String(76), primary_key=True),
        sa.Column("labels", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "lease_resources",
        sa.Column("namespace", sa.String(76), primary_key=True),
        sa.Column("lease", sa.String(76), primary_key=True),
        sa.Column("type", sa.Text, primary_key=True),
        sa.Column("resource", sa.Text, primary_key=True),
        sa.ForeignKeyConstraint(["namespace", "lease"], ["leases.namespace", "leases.id"],
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    for table in ("lease_resources", "leases", "snapshots", "content", "images", "containers"):
        op.drop_table(table)
