"""GCN Circulars: endorsement requests from would-be submitters to existing ones.

Revision ID: circulars2
Revises: circulars1
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "circulars2"
down_revision = "circulars1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circular_endorsements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("endorser_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endorser_id"],
            ["users.id"],
            name=op.f("fk_circular_endorsements_endorser_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_circular_endorsements_requester_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circular_endorsements")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_circular_endorsements_token_hash")),
    )
    op.create_index(
        op.f("ix_circular_endorsements_endorser_id"),
        "circular_endorsements",
        ["endorser_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_circular_endorsements_requester_id"),
        "circular_endorsements",
        ["requester_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_circular_endorsements_requester_id"), table_name="circular_endorsements")
    op.drop_index(op.f("ix_circular_endorsements_endorser_id"), table_name="circular_endorsements")
    op.drop_table("circular_endorsements")
