"""From Kafka messages to ledger rows: which subscriptions want an alert, rendered for each."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.scopes import may_read
from skyalert.auth.users import scopes_of_user
from skyalert.broker.archive.alert_ids import alert_id_time, is_alert_id
from skyalert.broker.core.db import utcnow
from skyalert.broker.emails import ledger
from skyalert.broker.emails.models import EmailSubscription
from skyalert.broker.emails.render import AlertMails, MailContext, Target
from skyalert.broker.emails.summary import summarize
from skyalert.client.filters import Filter, FilterError, compile_filter
from skyalert.schemas.catalog import Catalog, Topic, Visibility
from skyalert.schemas.errors import FormatRejected
from skyalert.schemas.formats import ContentType, format_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Active:
    """An active subscription as the worker matches it."""

    target: Target
    topics: frozenset[str]
    filter: Filter
    include_tests: bool
    since: datetime


def readable(session: Session, catalog: Catalog, user_id: int, names: list[str]) -> frozenset[str]:
    """The topics among ``names`` the user may read now (a revoked group stops its mails)."""
    topics = [t for t in map(catalog.get, names) if t is not None]
    if all(t.visibility is Visibility.PUBLIC for t in topics):  # every account reads those
        return frozenset(t.name for t in topics)
    scopes = scopes_of_user(session, user_id, catalog)
    return frozenset(t.name for t in topics if may_read(scopes, t))


def load_active(session: Session, catalog: Catalog) -> list[Active]:
    found = []
    for sub in session.scalars(select(EmailSubscription).where(EmailSubscription.active)):
        try:
            compiled = compile_filter(json.loads(sub.filter) if sub.filter else None)
        except (FilterError, ValueError) as exc:  # validated on save; never stop the worker
            log.error("subscription %s has an unusable filter, skipped: %s", sub.id, exc)
            continue
        found.append(
            Active(
                target=Target(sub.id, sub.name, sub.recipient, sub.format),
                topics=readable(session, catalog, sub.user_id, json.loads(sub.topics)),
                filter=compiled,
                include_tests=sub.include_tests,
                since=sub.active_since,
            )
        )
    return found


def _headers(message: Message) -> dict[str, bytes]:
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    found: dict[str, bytes] = {}
    for key, value in pairs:
        found[key] = value.encode() if isinstance(value, str) else value or b""
    return found


def _received(alert_id: str, message: Message) -> datetime:
    if is_alert_id(alert_id):
        return alert_id_time(alert_id)
    return datetime.fromtimestamp(message.timestamp()[1] / 1000, UTC)


def decode(content_type: ContentType, raw: bytes) -> dict[str, Any] | None:
    """The alert's JSON form, or None for a message that cannot be read (logged, skipped)."""
    try:
        return format_of(content_type).to_json(raw)
    except FormatRejected as exc:
        log.warning("skipping an unreadable alert: %s", exc)
        return None


def rows_for(
    messages: Sequence[Message], active: Sequence[Active], catalog: Catalog, ctx: MailContext
) -> list[dict[str, Any]]:
    """Ledger rows (rendered mails) for every (matching subscription, alert) pair."""
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for message in messages:
        topic = catalog.get(message.topic() or "")
        wanted = [a for a in active if topic is not None and topic.name in a.topics]
        if topic is None or not wanted:
            continue
        try:
            rows += _rows_for(message, topic, wanted, ctx, now)
        except Exception:  # one odd message must not stop every subscriber's mail
            log.exception("skipping %s [%s] @%s", topic.name, message.partition(), message.offset())
    return rows


def _rows_for(
    message: Message, topic: Topic, wanted: list[Active], ctx: MailContext, now: datetime
) -> list[dict[str, Any]]:
    raw = message.value()
    headers = _headers(message)
    alert_id = headers.get("alert-id", b"").decode() or (
        f"{topic.name}:{message.partition()}:{message.offset()}"
    )
    alert = decode(topic.content_type, raw) if raw is not None else None
    if raw is None or alert is None:
        return []
    test = headers.get("test") == b"1" or alert.get("alert_tense") == "test"
    received = _received(alert_id, message)
    summary = summarize(topic.name, topic.title, alert_id, alert, test)
    mails = AlertMails(ctx, summary, raw, alert)
    rows = []
    for sub in wanted:
        if received < sub.since or (test and not sub.include_tests):
            continue
        if not sub.filter.matches(alert):
            continue
        rows.append(
            {
                "subscription_id": sub.target.id,
                "alert_id": alert_id[:64],
                "topic": topic.name,
                "status": ledger.QUEUED,
                "message": mails.for_target(sub.target),
                "summary": json.dumps(summary),
                "queued_at": now,
                "next_attempt_at": now,
                "attempts": 0,
                "error": "",
            }
        )
    return rows
