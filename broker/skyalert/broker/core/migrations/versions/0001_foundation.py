"""Foundation: service instances.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_instances")),
        sa.UniqueConstraint("kind", "host", "pid", name="uq_service_instance"),
    )
    op.create_index(op.f("ix_service_instances_kind"), "service_instances", ["kind"], unique=False)
    op.create_index(
        op.f("ix_service_instances_last_seen"), "service_instances", ["last_seen"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_service_instances_last_seen"), table_name="service_instances")
    op.drop_index(op.f("ix_service_instances_kind"), table_name="service_instances")
    op.drop_table("service_instances")
