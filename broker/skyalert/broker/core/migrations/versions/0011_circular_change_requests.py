"""GCN Circulars: change requests from submitters, decided by moderators.

Revision ID: circulars4
Revises: circulars3
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "circulars4"
down_revision = "circulars3"
branch_labels = None
depends_on = None

TABLE = "circular_change_requests"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=800), nullable=True),
        sa.ForeignKeyConstraint(
            ["number"],
            ["circulars.number"],
            name=op.f("fk_circular_change_requests_number_circulars"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_circular_change_requests_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circular_change_requests")),
    )
    for column in ("number", "requester_id", "status"):
        op.create_index(op.f(f"ix_{TABLE}_{column}"), TABLE, [column], unique=False)


def downgrade() -> None:
    for column in ("number", "requester_id", "status"):
        op.drop_index(op.f(f"ix_{TABLE}_{column}"), table_name=TABLE)
    op.drop_table(TABLE)
