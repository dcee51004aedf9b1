"""The delivery ledger: what was queued, claimed, sent or refused, per (subscription, alert).

Exactly once per subscriber, and where the one crash window is:

1. The worker renders the mail and inserts a ``queued`` row for each matching subscription;
   the unique key (subscription, alert) turns a second insert of the same alert (a restart
   before the offset commit, a rebalance, a duplicate in Kafka) into nothing. Only after this
   transaction commits does the worker commit the Kafka offsets.
2. To send, it flips the row to ``sending`` and commits, *then* talks to SMTP, then records
   ``sent``. A worker killed after SMTP accepted the mail but before ``sent`` was written leaves
   a ``sending`` row, which no worker ever picks up again: no second mail. The price, stated
   plainly: if the worker dies after the ``sending`` commit but *before* SMTP accepted, that one
   mail is lost (the row stays ``sending`` and the API shows it as ``uncertain``). The same rule
   covers a connection that breaks while the message is handed over (``uncertain``). A mail
   server cannot be asked whether it already took a message, so one of the two windows must be
   lossy or duplicating; we choose never to duplicate, and the window is one SMTP round trip.
   The sender claims the next mail while SMTP takes the current one, so a kill can also leave
   that one claimed mail unsent; a claim that is not handed over for any other reason (the
   connection broke) is released and waits again. The sender uses ``email_connections`` SMTP
   connections at once, each with this window, so a kill loses at most two mails per
   connection (set it to 1 for the narrowest window, at a third to a half of the speed).
3. Claims and ``sent`` records are committed without waiting for the database's disk
   (:func:`~skyalert.broker.core.db.unflushed_engine`): a crash of the worker keeps them, but a
   crash of the PostgreSQL server itself (on SQLite, of the machine) may forget the last
   fraction of a second of claims, whose mails could then go out once more (the same bytes and
   Message-ID). That buys a mail per SMTP round trip instead of one per disk flush.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.emails.models import EmailDelivery, EmailMail, EmailSubscription
from skyalert.broker.emails.summary import Summary

QUEUED, SENDING, SENT, FAILED, SKIPPED, UNCERTAIN = (
    "queued",
    "sending",
    "sent",
    "failed",
    "skipped",
    "uncertain",
)
#: Mails that count against the rate limits: taken by SMTP, or possibly taken.
COUNTED = (SENDING, SENT, UNCERTAIN)
#: A ``sending`` row older than this belongs to a worker that died mid-send.
STALE_SENDING = timedelta(minutes=5)


@dataclass(frozen=True)
class Due:
    """A queued delivery with what the sender needs to decide and send."""

    id: int
    subscription_id: int
    name: str
    recipient: str
    format: str
    active: bool
    summary: Summary
    queued_at: datetime
    attempts: int


def queue(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``queued`` rows, ignoring (subscription, alert) pairs already in the ledger."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        upsert: Any = postgresql.insert(EmailDelivery)
    elif dialect == "sqlite":
        upsert = sqlite.insert(EmailDelivery)
    else:
        raise ConfigError(f"the email worker needs PostgreSQL or SQLite, not {dialect}")
    statement = (
        upsert.values(list(rows))
        .on_conflict_do_nothing(index_elements=["subscription_id", "alert_id"])
        .returning(EmailDelivery.id)
    )
    return len(session.execute(statement).all())


def due(session: Session, now: datetime, limit: int = 5000) -> list[Due]:
    """Queued deliveries whose time has come, oldest first."""
    rows = session.execute(
        select(EmailDelivery, EmailSubscription)
        .join(EmailSubscription, EmailSubscription.id == EmailDelivery.subscription_id)
        .where(EmailDelivery.status == QUEUED, EmailDelivery.next_attempt_at <= now)
        .order_by(EmailDelivery.id)
        .limit(limit)
    ).all()
    return [
        Due(
            id=delivery.id,
            subscription_id=sub.id,
            name=sub.name,
            recipient=sub.recipient,
            format=sub.format,
            active=sub.active,
            summary=json.loads(delivery.summary),
            queued_at=delivery.queued_at,
            attempts=delivery.attempts,
        )
        for delivery, sub in rows
    ]


def mails_since(
    session: Session, since: datetime, recipient: str | None = None, kind: str | None = None
) -> int:
    """Mails counted against a rate limit since ``since`` (to one recipient, or to anyone)."""
    query = select(func.count(EmailMail.id)).where(
        EmailMail.created_at >= since, EmailMail.status.in_(COUNTED)
    )
    if recipient is not None:
        query = query.where(EmailMail.recipient == recipient)
    if kind is not None:
        query = query.where(EmailMail.kind == kind)
    return int(session.scalar(query) or 0)


def mails_by_recipient(session: Session, since: datetime, recipients: list[str]) -> dict[str, int]:
    """:func:`mails_since` for many recipients in one query (absent ones had none)."""
    rows = session.execute(
        select(EmailMail.recipient, func.count(EmailMail.id))
        .where(
            EmailMail.created_at >= since,
            EmailMail.status.in_(COUNTED),
            EmailMail.recipient.in_(recipients),
        )
        .group_by(EmailMail.recipient)
    ).all()
    return {recipient: int(count) for recipient, count in rows}


def start_mail(session: Session | Connection, recipient: str, kind: str) -> int:
    """A ``sending`` mail row; returns its id (one statement: senders write one per mail)."""
    values = {"recipient": recipient, "kind": kind, "status": SENDING, "created_at": utcnow()}
    statement = insert(EmailMail).values(error="", **values).returning(EmailMail.id)
    return int(session.execute(statement).scalar_one())


def claim(
    session: Session | Connection, ids: Sequence[int], mail_id: int
) -> dict[int, bytes | None]:
    """Flip queued rows to ``sending`` for ``mail_id``; returns those this worker got, with
    their rendered mails."""
    claimed = session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id.in_(list(ids)), EmailDelivery.status == QUEUED)
        .values(status=SENDING, mail_id=mail_id)
        .returning(EmailDelivery.id, EmailDelivery.message)
    ).all()
    return {row.id: row.message for row in claimed}


# One statement (so one round trip, in autocommit): a mail id drawn first, the queued rows
# flipped to it, the mail row written only when some row was flipped (foreign keys are checked
# at the statement's end). Driver SQL: a claim per mail is worth no statement compilation.
_CLAIM_MAIL = """
    WITH m AS (SELECT nextval(pg_get_serial_sequence('email_mails', 'id')) AS id),
    claimed AS (
        UPDATE email_deliveries SET status = %(sending)s, mail_id = (SELECT id FROM m)
        WHERE id = ANY(%(ids)s) AND status = %(queued)s
        RETURNING id, message
    ),
    mail AS (
        INSERT INTO email_mails (id, recipient, kind, status, created_at, error)
        SELECT id, %(recipient)s, %(kind)s, %(sending)s, %(now)s, '' FROM m
        WHERE EXISTS (SELECT 1 FROM claimed)
    )
    SELECT claimed.id, claimed.message, (SELECT id FROM m) AS mail_id FROM claimed
"""


def claim_mail(
    connection: Connection, recipient: str, kind: str, ids: Sequence[int]
) -> tuple[int, dict[int, bytes | None]] | None:
    """Start a ``sending`` mail and :func:`claim` the queued ``ids`` for it, committed; None
    (and no mail left behind) when another worker got them all. On PostgreSQL one statement,
    for an autocommit connection; elsewhere one transaction on a connection outside one."""
    if connection.dialect.name == "postgresql":
        values = {"recipient": recipient, "kind": kind, "now": utcnow(), "ids": list(ids)}
        values |= {"sending": SENDING, "queued": QUEUED}
        rows = connection.exec_driver_sql(_CLAIM_MAIL, values).all()
        return (int(rows[0].mail_id), {row.id: row.message for row in rows}) if rows else None
    with connection.begin() as transaction:
        mail_id = start_mail(connection, recipient, kind)
        claimed = claim(connection, ids, mail_id)
        if not claimed:
            transaction.rollback()
            return None
    return mail_id, claimed


def finish(session: Session, mail_ids: Sequence[int], status: str, error: str = "") -> None:
    """Record the outcome of mails for the mails and every delivery they carried."""
    now = utcnow()
    session.execute(
        update(EmailMail)
        .where(EmailMail.id.in_(list(mail_ids)))
        .values(status=status, error=error[:2000], sent_at=now if status == SENT else None)
    )
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.mail_id.in_(list(mail_ids)))
        .values(status=status, error=error[:2000], finished_at=now, message=None)
    )


def release(session: Session, mail_id: int) -> None:
    """A claimed mail that was never handed to SMTP: its deliveries wait again, as if never
    claimed, and the mail no longer counts against the rate limits."""
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.mail_id == mail_id, EmailDelivery.status == SENDING)
        .values(status=QUEUED, mail_id=None)
    )
    session.execute(delete(EmailMail).where(EmailMail.id == mail_id))


def postpone(session: Session, mail_id: int, error: str, delay: float, max_attempts: int) -> None:
    """A temporary refusal: queue the deliveries again after ``delay`` s, or fail them."""
    now = utcnow()
    session.execute(
        update(EmailMail).where(EmailMail.id == mail_id).values(status=FAILED, error=error[:2000])
    )
    carried = and_(EmailDelivery.mail_id == mail_id, EmailDelivery.status == SENDING)
    session.execute(
        update(EmailDelivery)
        .where(carried, EmailDelivery.attempts + 1 >= max_attempts)
        .values(
            status=FAILED,
            attempts=EmailDelivery.attempts + 1,
            finished_at=now,
            message=None,
            error=f"gave up after {max_attempts} attempts: {error}"[:2000],
        )
    )
    session.execute(
        update(EmailDelivery)
        .where(carried)
        .values(
            status=QUEUED,
            attempts=EmailDelivery.attempts + 1,
            next_attempt_at=now + timedelta(seconds=delay),
            mail_id=None,
            error=error[:2000],
        )
    )


def skip(session: Session, ids: Sequence[int]) -> None:
    """Deliveries of subscriptions stopped before their mail went out."""
    session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id.in_(list(ids)), EmailDelivery.status == QUEUED)
        .values(
            status=SKIPPED,
            finished_at=utcnow(),
            message=None,
            error="the subscription was stopped before this alert was mailed",
        )
    )


def forget_old(session: Session, keep: timedelta) -> int:
    """Drop finished rows older than ``keep`` (longer than Kafka can redeliver an alert)."""
    cutoff = utcnow() - keep
    result = session.execute(
        delete(EmailDelivery).where(
            EmailDelivery.status.in_((SENT, FAILED, SKIPPED, UNCERTAIN)),
            EmailDelivery.queued_at < cutoff,
        )
    )
    session.execute(delete(EmailMail).where(EmailMail.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session, subscription_id: int) -> dict[str, int]:
    """Deliveries of a subscription by status; a ``sending`` row whose mail started long ago
    (its worker died mid-send) counts as ``uncertain``."""
    found = dict.fromkeys((QUEUED, SENDING, SENT, FAILED, SKIPPED, UNCERTAIN), 0)
    rows = session.execute(
        select(EmailDelivery.status, func.count())
        .where(EmailDelivery.subscription_id == subscription_id)
        .group_by(EmailDelivery.status)
    ).all()
    for status, count in rows:
        found[status] = int(count)
    stale = session.scalar(
        select(func.count())
        .select_from(EmailDelivery)
        .join(EmailMail, EmailMail.id == EmailDelivery.mail_id)
        .where(
            EmailDelivery.subscription_id == subscription_id,
            EmailDelivery.status == SENDING,
            EmailMail.created_at < utcnow() - STALE_SENDING,
        )
    )
    found[SENDING] -= int(stale or 0)
    found[UNCERTAIN] += int(stale or 0)
    return found


def last_failure(session: Session, subscription_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(
            EmailDelivery.alert_id,
            EmailDelivery.finished_at,
            EmailDelivery.error,
            EmailDelivery.status,
        )
        .where(
            EmailDelivery.subscription_id == subscription_id,
            EmailDelivery.status.in_((FAILED, UNCERTAIN)),
        )
        .order_by(EmailDelivery.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    alert_id, at, error, status = row
    return {
        "alert_id": alert_id,
        "at": at.isoformat() if at else None,
        "status": status,
        "error": error,
    }
