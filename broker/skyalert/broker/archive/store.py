"""The alert archive: every accepted alert, its JSON form and its original bytes, and queries.

Ids are time-ordered (:mod:`skyalert.broker.archive.alert_ids`), so time ranges become id ranges and
pages are cut by id (the primary key; ``(topic, id)`` for one topic). Cone searches prefilter in SQL
by HEALPix cell ranges (a B-tree on ``sky_cell``, the same on PostgreSQL and SQLite), widened per
tier of error radius (:data:`ERROR_TIERS`), then measure exact angular distances in Python on the
candidates' positions alone and load only the page's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

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
    SmallInteger,
    String,
    TextClause,
    UniqueConstraint,
    and_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from skyalert.broker.archive.alert_ids import highest_id_at, lowest_id_at
from skyalert.broker.archive.cone import Cone, cap_fraction, cell_ranges, ra_half_width, sky_cell
from skyalert.broker.core.db import Base, UTCDateTime, utcnow

#: Bounds [deg] of the error-radius tiers. Any alert is looked for in the cells within the cone's
#: radius plus the first bound; one whose error exceeds that bound also by its ``sky_tier``: tier
#: k (error within bounds k-1 and k) in the cells within the radius plus bound k, the last tier
#: (error above every bound) anywhere. Most errors are arcseconds to arcminutes; tiers keep the
#: few wide circles (GRB monitors) from widening every search.
ERROR_TIERS = (1.0, 4.0, 16.0, 64.0)
#: A cone (widened by the first error bound) over at most this fraction of the sky has its (few)
#: candidates gathered first, then paged by id; a wider one walks the id index, where matches
#: are dense. Gathering reads every candidate's row at random; walking reads consecutive rows
#: (ids follow insertion order) until a page is full: at 10^6 alerts the two cost about the same
#: near 0.2% of the sky.
GATHER_FRACTION = 0.002
MAX_PAGE = 500

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class Alert(Base):
    """One accepted alert. ``published_at`` stays empty until Kafka acknowledged it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("topic", "dedupe_key", name="uq_alerts_dedupe"),
        Index("ix_alerts_topic_id", "topic", "id"),
        Index("ix_alerts_sky_tier_cell", "sky_tier", "sky_cell"),
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
    ra_dec_error: Mapped[float | None] = mapped_column(Float)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: Nested HEALPix cell (:func:`~skyalert.broker.archive.cone.sky_cell`) of the position;
    #: None without one (see :func:`cell_of`).
    sky_cell: Mapped[int | None] = mapped_column(BigInteger, index=True)
    #: Error tier (:data:`ERROR_TIERS`, :func:`tier_of`) of a positioned alert with a wide
    #: error circle; None for the rest.
    sky_tier: Mapped[int | None] = mapped_column(SmallInteger)


class AlertCitation(Base):
    """A VOEvent citation: this alert follows up, supersedes or retracts the one with ``ivorn``."""

    __tablename__ = "alert_citations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    ivorn: Mapped[str] = mapped_column(String(512), index=True)
    cite: Mapped[str] = mapped_column(String(16))


def find_by_dedupe_keys(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Alert]:
    """The archived alerts with these ``(topic, dedupe_key)``: one query per topic."""
    by_topic: dict[str, set[str]] = {}
    for topic, dedupe_key in keys:
        by_topic.setdefault(topic, set()).add(dedupe_key)
    found: dict[tuple[str, str], Alert] = {}
    for topic, dedupe_keys in by_topic.items():
        query = select(Alert).where(Alert.topic == topic, Alert.dedupe_key.in_(dedupe_keys))
        found.update(((a.topic, a.dedupe_key), a) for a in session.scalars(query))
    return found


def store(session: Session, alert: Alert, citations: Iterable[tuple[str, str]]) -> None:
    """Add an alert and its citations (``(ivorn, cite)``) to the session."""
    alert.sky_cell = cell_of(alert.ra, alert.dec)
    alert.sky_tier = tier_of(alert.sky_cell, alert.ra_dec_error)
    session.add(alert)
    session.add_all(AlertCitation(alert_id=alert.id, ivorn=i, cite=c) for i, c in citations)


def cell_of(ra: float | None, dec: float | None) -> int | None:
    """The ``sky_cell`` an alert at (ra, dec) is indexed under."""
    if ra is None or dec is None:
        return None
    return sky_cell(ra, dec)


def tier_of(cell: int | None, error: float | None) -> int | None:
    """The ``sky_tier`` of an alert in this cell with this error radius."""
    if cell is None or error is None or error <= ERROR_TIERS[0]:
        return None
    return next((k for k, bound in enumerate(ERROR_TIERS) if error <= bound), len(ERROR_TIERS))


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
    if query.cone is None:
        statement = _ordered(_filtered(select(Alert), query, query.cursor), query)
        found = list(session.scalars(statement.limit(limit + 1)))
    else:
        ids = _cone_ids(session, query, query.cone, limit + 1)
        rows = session.scalars(select(Alert).where(Alert.id.in_(ids))) if ids else None
        by_id = {row.id: row for row in rows or ()}
        found = [by_id[i] for i in ids]
    more = len(found) > limit
    found = found[:limit]
    return AlertPage(found, found[-1].id if more else None)


def _cone_ids(session: Session, query: AlertQuery, cone: Cone, wanted: int) -> list[str]:
    """Ids of up to ``wanted`` alerts reaching the cone, in the page's order."""
    gather = cap_fraction(cone.radius + ERROR_TIERS[0]) <= GATHER_FRACTION
    # Not both: with the box beside the cells, PostgreSQL scans the declination index too.
    prefilter = _near_cells(cone) if gather else _near_box(cone)
    light = select(Alert.id, Alert.ra, Alert.dec, Alert.ra_dec_error).where(prefilter)
    # The exact test drops some candidates: read batches until enough are in.
    batch = max(8 * wanted, 1000)
    found: list[str] = []
    cursor = query.cursor
    while len(found) < wanted:
        candidates = _filtered(light, query, cursor)
        if gather:
            gathered = candidates.cte("candidates").prefix_with("MATERIALIZED")
            page = _ordered(select(gathered), query, gathered.c.id)
        else:
            page = _ordered(candidates, query)
        rows = session.execute(page.limit(batch)).all()
        found += [
            id_
            for id_, ra, dec, error in rows
            if ra is not None and dec is not None and cone.reaches(ra, dec, error)
        ]
        if len(rows) < batch:
            break
        cursor = rows[-1][0]
    return found[:wanted]


def _ordered(statement: S, query: AlertQuery, key: Any = Alert.id) -> S:
    return statement.order_by(key.desc() if query.order == "desc" else key.asc())


def _filtered(statement: S, query: AlertQuery, cursor: str | None) -> S:
    statement = statement.where(Alert.topic.in_(list(query.topics)))
    if query.since is not None:
        statement = statement.where(Alert.id >= lowest_id_at(query.since))
    if query.until is not None:
        statement = statement.where(Alert.id <= highest_id_at(query.until))
    if query.test is not None:
        statement = statement.where(Alert.test.is_(query.test))
    if cursor is not None:
        statement = statement.where(
            Alert.id < cursor if query.order == "desc" else Alert.id > cursor
        )
    return statement


def _near_cells(cone: Cone) -> TextClause:
    """Rows whose error circle may reach the cone, by cells: a superset, refined by the exact
    test. Every term is one index range, so both databases combine index scans. Written as SQL
    text: building a hundred SQLAlchemy expressions took longer than the query (the integers
    are our own), and literal bounds give PostgreSQL a plan for these very ranges."""
    nearby = cell_ranges(cone.ra, cone.dec, cone.radius + ERROR_TIERS[0])
    terms = [f"alerts.sky_cell BETWEEN {low:d} AND {high:d}" for low, high in nearby]
    for tier, bound in enumerate(ERROR_TIERS[1:], start=1):
        ranges = cell_ranges(cone.ra, cone.dec, cone.radius + bound)
        terms += [
            f"(alerts.sky_tier = {tier:d} AND alerts.sky_cell BETWEEN {low:d} AND {high:d})"
            for low, high in ranges
        ]
    terms.append(f"alerts.sky_tier = {len(ERROR_TIERS):d}")
    return text(f"({' OR '.join(terms)})")


def _near_box(cone: Cone) -> ColumnElement[bool]:
    """Rows within the declinations and right ascensions the cone (widened by the first error
    bound) spans, and all wide circles: a superset as well, and cheap to test on every row an id
    walk passes (a hundred cell ranges are not)."""
    reach = cone.radius + ERROR_TIERS[0]
    near: ColumnElement[bool] = Alert.dec.between(cone.dec - reach, cone.dec + reach)
    width = ra_half_width(cone.dec, reach)
    low, high = cone.ra - width, cone.ra + width
    if width < 180 and low >= 0 and high < 360:
        near = and_(near, Alert.ra.between(low, high))
    elif width < 180:  # the window wraps at RA 0
        near = and_(near, or_(Alert.ra >= low % 360, Alert.ra <= high % 360))
    return or_(near, Alert.sky_tier.is_not(None))


def unpublished(
    session: Session, older_than: timedelta, limit: int = 100, *, lock: bool = False
) -> list[Alert]:
    """Archived alerts that Kafka never acknowledged, oldest first; with ``lock``, only rows no
    other transaction holds, locked until this one ends (PostgreSQL)."""
    cutoff = utcnow() - older_than
    query = (
        select(Alert)
        .where(Alert.published_at.is_(None), Alert.received_at < cutoff)
        .order_by(Alert.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def mark_published(session: Session, alert_ids: Sequence[str]) -> None:
    if alert_ids:
        session.execute(
            update(Alert)
            .where(Alert.id.in_(list(alert_ids)), Alert.published_at.is_(None))
            .values(published_at=utcnow())
        )
