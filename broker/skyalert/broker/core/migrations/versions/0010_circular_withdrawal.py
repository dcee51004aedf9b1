"""GCN Circulars: moderators may withdraw spam (the number stays taken).

Revision ID: circulars3
Revises: circulars2
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "circulars3"
down_revision = "circulars2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "circulars",
        sa.Column("withdrawn_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("circulars") as batch:
        batch.drop_column("withdrawn_at")
