"""dockerd: the rest of a container record; networks, endpoints, IP leases, published
ports; volumes and their users.

An IP lease and a published host port are rows with a unique key, taken in the
same transaction as the endpoint that uses them, so a daemon killed at any moment
never hands the same address or port out twice after it restarts.

Revision ID: d0002
Revises: d0001
"""

import sqlalchemy as sa
from alembic import op

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("containers") as batch:
        batch.add_column(sa.Column("path", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("args", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("network_settings", sa.JSON, nullable=False,
                                   server_default="{}"))
        batch.add_column(sa.Column("mounts", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("restart_count", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("manually_stopped", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("driver", sa.String(64), nullable=False,
                                   server_default="overlayfs"))
        batch.add_column(sa.Column("platform", sa.String(64), nullable=False,
                                   server_default="linux"))

    op.create_table(
        "networks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        # bridge | host | null
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False, server_default="local"),
        # The Linux bridge device (bridge driver only).
        sa.Column("bridge", sa.String(15), nullable=True, unique=True),
        sa.Column("subnet", sa.String(64), nullable=True, unique=True),
        sa.Column("gateway", sa.String(64), nullable=True),
        sa.Column("ip_range", sa.String(64), nullable=True),
        # The last address handed out: the next lease starts after it (as libnetwork's
        # bitmap allocator does), so a just-released address is not reused at once.
        sa.Column("last_ip", sa.String(64), nullable=True),
        sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attachable", sa.Boolean, nullable=False, server_default=sa.false()),
        # The default bridge, host and none networks (not removable).
        sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("options", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("labels", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("ipam", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ip_leases",
        sa.Column("network_id", sa.String(64), sa.ForeignKey("networks.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        # The endpoint (or "gateway"/"aux:<name>") the address belongs to.
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("network_id", sa.String(64), sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("ipv4_address", sa.String(64), nullable=True),
        sa.Column("mac_address", sa.String(32), nullable=False, server_default=""),
        # Host side of the veth pair.
        sa.Column("host_ifname", sa.String(15), nullable=True),
        # Interface name inside the container (eth0, eth1, ...).
        sa.Column("ifname", sa.String(15), nullable=False, server_default="eth0"),
        sa.Column("aliases", sa.JSON, nullable=False, server_default="[]"),
        # The settings the user asked for (--ip, --alias) when connecting.
        sa.Column("config", sa.JSON, nullable=False, server_default="{}"),
        # Whether the veth currently exists (the container runs).
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("network_id", "container_id"),
    )
    op.create_table(
        "port_mappings",
        sa.Column("proto", sa.String(8), primary_key=True),
        sa.Column("host_ip", sa.String(64), primary_key=True),
        sa.Column("host_port", sa.Integer, primary_key=True),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("container_ip", sa.String(64), nullable=False),
        sa.Column("container_port", sa.Integer, nullable=False),
    )
    op.create_table(
        "volumes",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("driver", sa.String(64), nullable=False, server_default="local"),
        sa.Column("mountpoint", sa.Text, nullable=False),
        sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("options", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("labels", sa.JSON, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "volume_refs",
        sa.Column("volume", sa.String(255), sa.ForeignKey("volumes.name"), primary_key=True),
        sa.Column("container_id", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("volume_refs")
    op.drop_table("volumes")
    op.drop_table("port_mappings")
    op.drop_table("endpoints")
    op.drop_table("ip_leases")
    op.drop_table("networks")
    with op.batch_alter_table("containers") as batch:
        for col in ("platform", "driver", "manually_stopped", "restart_count", "mounts",
                    "network_settings", "args", "path"):
            batch.drop_column(col)
