"""Email notifications: verified addresses, subscriptions, the delivery ledger, the send log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import skyalert.broker.core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_mails")),
    )
    op.create_index(op.f("ix_email_mails_created_at"), "email_mails", ["created_at"], unique=False)
    op.create_index(op.f("ix_email_mails_recipient"), "email_mails", ["recipient"], unique=False)
    op.create_table(
        "email_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("verified_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_recipients_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_recipients")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_recipients_token_hash")),
        sa.UniqueConstraint("user_id", "address", name="uq_email_recipient"),
    )
    op.create_index(
        op.f("ix_email_recipients_user_id"), "email_recipients", ["user_id"], unique=False
    )
    op.create_table(
        "email_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("include_tests", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("active_since", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("unsubscribed_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_subscriptions")),
    )
    op.create_index(
        op.f("ix_email_subscriptions_active"), "email_subscriptions", ["active"], unique=False
    )
    op.create_index(
        op.f("ix_email_subscriptions_user_id"), "email_subscriptions", ["user_id"], unique=False
    )
    op.create_table(
        "email_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("queued_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", skyalert.broker.core.db.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", skyalert.broker.core.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["email_mails.id"],
            name=op.f("fk_email_deliveries_mail_id_email_mails"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["email_subscriptions.id"],
            name=op.f("fk_email_deliveries_subscription_id_email_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
        sa.UniqueConstraint("subscription_id", "alert_id", name="uq_email_delivery"),
    )
    op.create_index(
        op.f("ix_email_deliveries_mail_id"), "email_deliveries", ["mail_id"], unique=False
    )
    op.create_index(
        op.f("ix_email_deliveries_next_attempt_at"),
        "email_deliveries",
        ["next_attempt_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_email_deliveries_status"), "email_deliveries", ["status"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_email_deliveries_status"), table_name="email_deliveries")
    op.drop_index(op.f("ix_email_deliveries_next_attempt_at"), table_name="email_deliveries")
    op.drop_index(op.f("ix_email_deliveries_mail_id"), table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_index(op.f("ix_email_subscriptions_user_id"), table_name="email_subscriptions")
    op.drop_index(op.f("ix_email_subscriptions_active"), table_name="email_subscriptions")
    op.drop_table("email_subscriptions")
    op.drop_index(op.f("ix_email_recipients_user_id"), table_name="email_recipients")
    op.drop_table("email_recipients")
    op.drop_index(op.f("ix_email_mails_recipient"), table_name="email_mails")
    op.drop_index(op.f("ix_email_mails_created_at"), table_name="email_mails")
    op.drop_table("email_mails")
