"""The alert archive: every accepted alert, its JSON form and its original bytes, and queries.

Ids are time-ordered (:mod:`skyalert.broker.archive.alert_ids`), so time ranges become id ranges and
pages are cut by id. Cone searches prefilter in SQL by HEALPix cell ranges (a B-tree on
``sky_cell``, the same on PostgreSQL and SQLite) for alerts with small error circles and by a
declination band for the few wide ones, then measure exact angular distances in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    UniqueConstraint,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from skyalert.broker.archive.alert_ids import highest_id_at, lowest_id_at
from skyalert.broker.archive.cone import Cone, cell_ranges, sky_cell
from skyalert.broker.core.db import Base, UTCDateTime, utcnow

#: Alerts with error circles up to this radius [deg] get a sky cell; wider ones (a few GRB
#: monitors) are found by a declination band.
SMALL_ERROR = 1.0
MAX_PAGE = 500


class Alert(Base):
    """One accepted alert. ``published_at`` stays empty until Kafka acknowledged it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("topic", "dedupe_key", name="uq_alerts_dedupe"),
        Index("ix_alerts_topic_id", "topic", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249))
    content_type: Mapped[str] = mapped_column(String(64))
    schema_id: Mapped[str | None] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test: Mapped[bool] = mapped_column(Boolean)
    ivorn: Mapped[str | None] = mapped_column(String(512), index=True)
    #: ``key:``, ``ivorn:`` or ``sha256:`` and a SHA-256: what makes a repeat a repeat.
    dedupe_key: Mapped[str] = mapped_column(String(80))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    content_sha256: Mapped[str] = mapped_column(String(64))
    ra: Mapped[float | None] = mapped_column(Float)
    dec: Mapped[float | None] = mapped_column(Float, index=True)
    ra_dec_error: Mapped[float | None] = mapped_column(Float, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: Nested HEALPix cell (:func:`~skyalert.broker.archive.cone.sky_cell`) of the position when
    #: its error circle is at most :data:`SMALL_ERROR`; None otherwise (see :func:`cell_of`).
    sky_cell: Mapped[int | None] = mapped_column(BigInteger, index=True)


class AlertCitation(Base):
    """A VOEvent citation: this alert follows up, supersedes or retracts the one with ``ivorn``."""

    __tablename__ = "alert_citations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    ivorn: Mapped[str] = mapped_column(String(512), index=True)
    cite: Mapped[str] = mapped_column(String(16))


def find_by_dedupe_key(session: Session, topic: str, dedupe_key: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.topic == topic, Alert.dedupe_key == dedupe_key))


def store(session: Session, alert: Alert, citations: Iterable[tuple[str, str]]) -> None:
    """Add an alert and its citations (``(ivorn, cite)``) to the session."""
    alert.sky_cell = cell_of(alert.ra, alert.dec, alert.ra_dec_error)
    session.add(alert)
    session.add_all(AlertCitation(alert_id=alert.id, ivorn=i, cite=c) for i, c in citations)


def cell_of(ra: float | None, dec: float | None, error: float | None) -> int | None:
    """The ``sky_cell`` an alert at (ra, dec) with this error radius is indexed under."""
    if ra is None or dec is None or (error or 0.0) > SMALL_ERROR:
        return None
    return sky_cell(ra, dec)


def get(session: Session, alert_id: str) -> Alert | None:
    return session.get(Alert, alert_id)


@dataclass(frozen=True)
class CitationLink:
    """A citation between two alerts; ``alert_id``/``topic`` are None when not archived here."""

    ivorn: str
    cite: str
    alert_id: str | None
    topic: str | None


def citations_of(session: Session, alert: Alert) -> list[CitationLink]:
    """What this alert follows up, supersedes or retracts, resolved against the archive."""
    rows = session.execute(
        select(AlertCitation.ivorn, AlertCitation.cite)
        .where(AlertCitation.alert_id == alert.id)
        .order_by(AlertCitation.id)
    ).all()
    known = _first_by_ivorn(session, {ivorn for ivorn, _ in rows})
    return [CitationLink(ivorn, cite, *(known.get(ivorn) or (None, None))) for ivorn, cite in rows]


def cited_by(session: Session, alert: Alert) -> list[CitationLink]:
    """Archived alerts that cite this one (its follow-ups, what superseded or retracted it)."""
    if alert.ivorn is None:
        return []
    rows = session.execute(
        select(Alert.id, Alert.topic, Alert.ivorn, AlertCitation.cite)
        .join(AlertCitation, AlertCitation.alert_id == Alert.id)
        .where(AlertCitation.ivorn == alert.ivorn)
        .order_by(Alert.id)
    ).all()
    return [CitationLink(ivorn or "", cite, id_, topic) for id_, topic, ivorn, cite in rows]


def _first_by_ivorn(session: Session, ivorns: set[str]) -> dict[str, tuple[str, str]]:
    if not ivorns:
        return {}
    rows = session.execute(
        select(Alert.ivorn, Alert.id, Alert.topic).where(Alert.ivorn.in_(ivorns)).order_by(Alert.id)
    ).all()
    found: dict[str, tuple[str, str]] = {}
    for ivorn, id_, topic in rows:
        if ivorn is not None:
            found.setdefault(ivorn, (id_, topic))
    return found


@dataclass(frozen=True)
class AlertQuery:
    """Filters of an archive search. ``topics`` are the ones the caller may read."""

    topics: Sequence[str]
    since: datetime | None = None
    until: datetime | None = None
    cone: Cone | None = None
    test: bool | None = None
    cursor: str | None = None
    limit: int = 50
    order: Literal["asc", "desc"] = "desc"


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]
    #: Pass as ``cursor`` for the next page; None on the last page.
    next_cursor: str | None


def search(session: Session, query: AlertQuery) -> AlertPage:
    """One page of alerts, newest first (or oldest first), matching every filter."""
    limit = max(1, min(query.limit, MAX_PAGE))
    statement = _filtered(query)
    newest_first = query.order == "desc"
    statement = statement.order_by(Alert.id.desc() if newest_first else Alert.id.asc())
    found: list[Alert] = []
    cursor = query.cursor
    # The exact cone test drops some prefiltered rows: read batches until the page is full.
    batch = limit + 1 if query.cone is None else max(4 * limit, 100)
    while len(found) <= limit:
        page = statement
        if cursor is not None:
            page = page.where(Alert.id < cursor if newest_first else Alert.id > cursor)
        rows = list(session.scalars(page.limit(batch)))
        for row in rows:
            if query.cone is None or _in_cone(query.cone, row):
                found.append(row)
        if len(rows) < batch:
            break
        cursor = rows[-1].id
    more = len(found) > limit
    found = found[:limit]
    return AlertPage(found, found[-1].id if more else None)


def _in_cone(cone: Cone, alert: Alert) -> bool:
    return (
        alert.ra is not None
        and alert.dec is not None
        and cone.reaches(alert.ra, alert.dec, alert.ra_dec_error)
    )


def _filtered(query: AlertQuery) -> Select[Alert]:
    statement = select(Alert).where(Alert.topic.in_(list(query.topics)))
    if query.since is not None:
        statement = statement.where(Alert.id >= lowest_id_at(query.since))
    if query.until is not None:
        statement = statement.where(Alert.id <= highest_id_at(query.until))
    if query.test is not None:
        statement = statement.where(Alert.test.is_(query.test))
    if query.cone is not None:
        statement = statement.where(_cone_prefilter(query.cone))
    return statement


def _cone_prefilter(cone: Cone) -> ColumnElement[bool]:
    """Rows whose error circle may reach the cone: a superset, refined by :func:`_in_cone`."""
    cells = cell_ranges(cone.ra, cone.dec, cone.radius + SMALL_ERROR)
    small = or_(*(Alert.sky_cell.between(low, high) for low, high in cells))
    wide = and_(
        Alert.ra_dec_error > SMALL_ERROR,
        Alert.dec + Alert.ra_dec_error >= cone.dec - cone.radius,
        Alert.dec - Alert.ra_dec_error <= cone.dec + cone.radius,
    )
    return or_(small, and_(Alert.ra.is_not(None), wide))


def unpublished(session: Session, older_than: timedelta, limit: int = 100) -> list[Alert]:
    """Archived alerts that Kafka never acknowledged, oldest first."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.published_at.is_(None), Alert.received_at < cutoff)
            .order_by(Alert.id)
            .limit(limit)
        )
    )


def mark_published(session: Session, alert_ids: Sequence[str]) -> None:
    if alert_ids:
        session.execute(
            update(Alert)
            .where(Alert.id.in_(list(alert_ids)), Alert.published_at.is_(None))
            .values(published_at=utcnow())
        )
