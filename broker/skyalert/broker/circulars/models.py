"""The circular tables: the current text of each circular, every version, and the number counter."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from skyalert.broker.core.db import Base, UTCDateTime

#: PostgreSQL keeps the full-text vector here (see :mod:`.search`); SQLite leaves it empty.
SEARCH_VECTOR = Text().with_variant(TSVECTOR(), "postgresql")

FORMATS = ("text/plain", "text/markdown")


class Circular(Base):
    """A circular as it reads now (its latest version); ``number`` is never reused."""

    __tablename__ = "circulars"
    __table_args__ = (Index("ix_circulars_search_vector", "search_vector", postgresql_using="gin"),)

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(1000))
    event_id: Mapped[str | None] = mapped_column(String(100), index=True)
    body: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    #: The byline as shown: ``Name at Affiliation <email>``.
    submitter: Mapped[str] = mapped_column(String(800))
    #: The submitting account's OpenID ``sub``; None for imported circulars.
    sub: Mapped[str | None] = mapped_column(String(40), index=True)
    submitted_how: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_by: Mapped[str | None] = mapped_column(String(800))
    #: Set when moderators withdrew it as spam: hidden everywhere, its number never reused.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_vector: Mapped[str | None] = mapped_column(SEARCH_VECTOR)


class CircularVersion(Base):
    """One version of a circular as it was published (version 1 is the original)."""

    __tablename__ = "circular_versions"

    number: Mapped[int] = mapped_column(
        ForeignKey("circulars.number", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    subject: Mapped[str] = mapped_column(String(1000))
    event_id: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    submitter: Mapped[str] = mapped_column(String(800))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    edited_by: Mapped[str | None] = mapped_column(String(800))
    #: The archived Kafka message of this version on ``gcn.circulars`` (see :mod:`.publishing`).
    alert_id: Mapped[str | None] = mapped_column(String(26))


class CircularCounter(Base):
    """One row: the next number to assign. Updating it serialises acceptances, so numbers form
    one gap-free sequence on every backend; an import moves it past the numbers it kept."""

    __tablename__ = "circular_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_number: Mapped[int] = mapped_column(Integer)


class Endorsement(Base):
    """A request to become a submitter, sent to one existing submitter, and its outcome."""

    __tablename__ = "circular_endorsements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endorser_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: ``pending``, ``approved``, ``rejected`` or ``reported`` (as spam).
    status: Mapped[str] = mapped_column(String(10))
    #: Keyed hash of the endorser's mail link; cleared once decided.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChangeRequest(Base):
    """A submitter's proposed correction of a circular, and a moderator's decision on it."""

    __tablename__ = "circular_change_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(
        ForeignKey("circulars.number", ondelete="CASCADE"), index=True
    )
    #: The version the requester saw; approval is refused once the circular moved past it.
    base_version: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    #: ``pending``, ``approved`` or ``rejected``.
    status: Mapped[str] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(800))
