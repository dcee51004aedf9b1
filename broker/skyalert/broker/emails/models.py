"""Tables of email notifications: addresses, subscriptions, the delivery ledger, the send log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from skyalert.broker.core.db import Base, UTCDateTime, utcnow


class EmailRecipient(Base):
    """An address other than the account's own that the user proved to read."""

    __tablename__ = "email_recipients"
    __table_args__ = (UniqueConstraint("user_id", "address", name="uq_email_recipient"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    #: Keyed hash of the confirmation link's secret; None once confirmed.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailSubscription(Base):
    """Alerts of some topics, optionally filtered, mailed to one address in one format."""

    __tablename__ = "email_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    #: JSON list of topic names.
    topics: Mapped[str] = mapped_column(Text)
    #: "text", "json" or "voevent".
    format: Mapped[str] = mapped_column(String(10))
    #: The filter as JSON text; None: every alert of the topics.
    filter: Mapped[str | None] = mapped_column(Text, nullable=True)
    include_tests: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    #: Alerts published before this moment are never mailed (no backlog on (re)subscribing).
    active_since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EmailMail(Base):
    """One message handed (or being handed) to SMTP; the rate limits count these."""

    __tablename__ = "email_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    #: "alert", "digest", "test" or "confirm".
    kind: Mapped[str] = mapped_column(String(10))
    #: "sending", "sent", "failed" (not accepted by SMTP) or "retry" (will be tried again).
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class EmailDelivery(Base):
    """The ledger: one row per (subscription, alert), so an alert is mailed at most once.

    ``queued`` (rendered, waiting for its turn) → ``sending`` (committed before SMTP) →
    ``sent``; or ``failed`` (SMTP refused it for good, or too many temporary failures), or
    ``skipped`` (unsubscribed before it went out). A ``sending`` row whose worker died is never
    sent again: see :mod:`skyalert.broker.emails.ledger`.
    """

    __tablename__ = "email_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "alert_id", name="uq_email_delivery"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("email_subscriptions.id", ondelete="CASCADE")
    )
    alert_id: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), index=True)
    #: The rendered single mail, kept until it is sent or folded into a digest.
    message: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: JSON of the alert's key fields: a digest lists these.
    summary: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    mail_id: Mapped[int | None] = mapped_column(
        ForeignKey("email_mails.id", ondelete="SET NULL"), nullable=True, index=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")

    subscription: Mapped[EmailSubscription] = relationship()
