"""Email subscriptions: checked on every change, owned by one account, shown with their record."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.principal import Principal
from skyalert.auth.scopes import topic_read_scope
from skyalert.broker.core.db import utcnow
from skyalert.broker.emails import ledger
from skyalert.broker.emails.errors import (
    InvalidSubscription,
    SubscriptionNotFound,
    TopicNotAllowed,
)
from skyalert.broker.emails.models import EmailSubscription
from skyalert.broker.emails.recipients import check_recipient, owner
from skyalert.broker.emails.render import FORMATS
from skyalert.client.filters import FilterError, compile_filter
from skyalert.schemas.catalog import Catalog, Topic
from skyalert.schemas.formats import ContentType

MAX_TOPICS = 50
MAX_NAME = 100
FIELDS = frozenset({"name", "recipient", "topics", "format", "filter", "include_tests", "active"})


def _topic(catalog: Catalog, principal: Principal, name: object) -> Topic:
    if not isinstance(name, str):
        raise InvalidSubscription(f"topics: expected topic names, got {name!r}")
    topic = catalog.get(name)
    if topic is None:
        close = difflib.get_close_matches(name, catalog.by_name.keys(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see GET /api/v1/topics"
        raise InvalidSubscription(f"topics: there is no topic named {name!r}{hint}")
    if topic not in catalog.alert_topics:  # alerts and circulars; not the broker's plumbing
        raise InvalidSubscription(f"topics: {name} carries no alerts; it cannot be mailed")
    if not principal.may_read(topic):
        raise TopicNotAllowed(
            f"you may not read {name}: it needs the scope {topic_read_scope(topic)!r}, which "
            "this token does not hold; use a credential (or token) that includes it"
        )
    return topic


def check_topics(catalog: Catalog, principal: Principal, names: object) -> list[Topic]:
    if not isinstance(names, list) or not names:
        raise InvalidSubscription("topics: give a non-empty list of topic names")
    if len(names) > MAX_TOPICS:
        raise InvalidSubscription(f"topics: at most {MAX_TOPICS} topics per subscription")
    found: dict[str, Topic] = {}
    for name in names:
        topic = _topic(catalog, principal, name)
        found[topic.name] = topic
    return list(found.values())


def check_format(value: object, topics: list[Topic]) -> str:
    if value not in FORMATS:
        raise InvalidSubscription(f"format: {value!r} is not one of {', '.join(FORMATS)}")
    assert isinstance(value, str)
    if value == "voevent":
        json_topics = [t.name for t in topics if t.content_type is not ContentType.VOEVENT]
        if json_topics:
            raise InvalidSubscription(
                f"format: voevent needs VOEvent topics, but {', '.join(json_topics)} carry "
                "JSON alerts; use format json for them (in another subscription)"
            )
    return value


def check_filter(value: object) -> str | None:
    try:
        compiled = compile_filter(value)
    except FilterError as exc:
        raise InvalidSubscription(f"invalid filter at /filter{exc.path}: {exc.reason}") from exc
    source = compiled.to_json()
    return None if source is None else json.dumps(source, separators=(",", ":"))


def check_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSubscription("name: give the subscription a name")
    if len(value.strip()) > MAX_NAME:
        raise InvalidSubscription(f"name: at most {MAX_NAME} characters")
    return value.strip()


def _apply(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    sub: EmailSubscription,
    fields: Mapping[str, Any],
) -> None:
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise InvalidSubscription(f"unknown field {unknown[0]!r}; the fields are {sorted(FIELDS)}")
    names = fields["topics"] if "topics" in fields else json.loads(sub.topics)
    topics = check_topics(catalog, principal, names)
    sub.topics = json.dumps([t.name for t in topics])
    sub.format = check_format(fields.get("format", sub.format), topics)
    if "filter" in fields:
        sub.filter = check_filter(fields["filter"])
    if "name" in fields:
        sub.name = check_name(fields["name"])
    if "recipient" in fields:
        user = owner(session, principal.user_id)
        sub.recipient = check_recipient(session, user, fields["recipient"] or user.email)
    if "include_tests" in fields:
        if not isinstance(fields["include_tests"], bool):
            raise InvalidSubscription("include_tests: true or false")
        sub.include_tests = fields["include_tests"]
    if "active" in fields:
        if not isinstance(fields["active"], bool):
            raise InvalidSubscription("active: true or false")
        if fields["active"] and not sub.active:
            sub.active_since = utcnow()  # no backlog of what came while it was stopped
            sub.unsubscribed_at = None
        elif not fields["active"] and sub.active:
            sub.unsubscribed_at = utcnow()
        sub.active = fields["active"]
    sub.updated_at = utcnow()


def default_name(topics: object) -> str:
    if not isinstance(topics, list) or not topics:
        return "alerts"
    more = f" and {len(topics) - 1} more" if len(topics) > 1 else ""
    return f"{topics[0]}{more}"[:MAX_NAME]


def create(
    session: Session, principal: Principal, catalog: Catalog, fields: Mapping[str, Any]
) -> EmailSubscription:
    now = utcnow()
    user = owner(session, principal.user_id)
    sub = EmailSubscription(
        user_id=user.id,
        name="",
        recipient=user.email,
        topics="[]",
        format="text",
        filter=None,
        include_tests=False,
        active=True,
        active_since=now,
        created_at=now,
        updated_at=now,
    )
    values = dict(fields)
    values.setdefault("recipient", None)
    values.setdefault("format", "json")
    if not values.get("name"):
        values["name"] = default_name(values.get("topics"))
    _apply(session, principal, catalog, sub, values)
    session.add(sub)
    session.flush()
    return sub


def owned(session: Session, principal: Principal, sub_id: int) -> EmailSubscription:
    sub = session.get(EmailSubscription, sub_id)
    if sub is None or sub.user_id != principal.user_id:
        raise SubscriptionNotFound(
            f"you have no subscription {sub_id}; GET /api/v1/subscriptions lists yours"
        )
    return sub


def update(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    sub_id: int,
    fields: Mapping[str, Any],
) -> EmailSubscription:
    sub = owned(session, principal, sub_id)
    _apply(session, principal, catalog, sub, fields)
    return sub


def delete(session: Session, principal: Principal, sub_id: int) -> None:
    session.delete(owned(session, principal, sub_id))


def listing(session: Session, principal: Principal) -> list[EmailSubscription]:
    return list(
        session.scalars(
            select(EmailSubscription)
            .where(EmailSubscription.user_id == principal.user_id)
            .order_by(EmailSubscription.id)
        ).all()
    )


def unsubscribe(session: Session, ids: list[int]) -> list[EmailSubscription]:
    """Stop the subscriptions a signed link names (idempotent); returns them for the page."""
    stopped = []
    for sub_id in ids:
        sub = session.get(EmailSubscription, sub_id)
        if sub is None:
            continue
        if sub.active:
            sub.active = False
            sub.unsubscribed_at = utcnow()
            sub.updated_at = utcnow()
        stopped.append(sub)
    return stopped


def represent(session: Session, sub: EmailSubscription, base_url: str) -> dict[str, Any]:
    """The API form, with what the ledger says about its deliveries."""
    return {
        "id": sub.id,
        "name": sub.name,
        "recipient": sub.recipient,
        "topics": json.loads(sub.topics),
        "format": sub.format,
        "filter": json.loads(sub.filter) if sub.filter else None,
        "include_tests": sub.include_tests,
        "active": sub.active,
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
        "unsubscribed_at": sub.unsubscribed_at.isoformat() if sub.unsubscribed_at else None,
        "deliveries": ledger.counts(session, sub.id),
        "last_failure": ledger.last_failure(session, sub.id),
        "links": {
            "self": f"{base_url}/api/v1/subscriptions/{sub.id}",
            "test": f"{base_url}/api/v1/subscriptions/{sub.id}/test",
        },
    }
