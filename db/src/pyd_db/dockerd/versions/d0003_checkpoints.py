"""dockerd: checkpoints.

Revision ID: d0003
Revises: d0002
"""

import sqlalchemy as sa
from alembic import op

revision = "d0003"
down_revision = "d0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A row exists only for a complete checkpoint: the image directory is written under
    # a temporary name and renamed before the row is inserted.
    op.create_table(
        "checkpoints",
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("dir", sa.Text, nullable=False),
        sa.Column("image_digest", sa.String(80), nullable=False),
        sa.Column("leave_running", sa.Boolean, nullable=False),
        sa.Column("lazy", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dir", "name"),
    )
    op.create_index("checkpoints_container", "checkpoints", ["container_id"])


def downgrade() -> None:
    op.drop_index("checkpoints_container", "checkpoints")
    op.drop_table("checkpoints")
