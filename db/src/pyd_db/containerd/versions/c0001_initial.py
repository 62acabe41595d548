"""containerd: namespaces and their labels.

Revision ID: c0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "namespaces",
        sa.Column("name", sa.String(76), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "namespace_labels",
        sa.Column("namespace", sa.String(76),
                  sa.ForeignKey("namespaces.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(4096), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("namespace_labels")
    op.drop_table("namespaces")
