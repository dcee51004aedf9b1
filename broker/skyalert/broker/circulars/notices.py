"""The notices of a circular's event: archived JSON alerts that carry the event's id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.broker.archive.store import Alert
from skyalert.broker.circulars.events import Event

MAX_NOTICES = 100


def notices_of(session: Session, event: Event, topics: Sequence[str]) -> list[Alert]:
    """Alerts on ``topics`` about ``event``, oldest first; none if notices do not name it."""
    if event.notice_key is None or not topics:
        return []
    field, value = event.notice_key
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.topic.in_(list(topics)), Alert.document[field].as_string() == value)
            .order_by(Alert.id)
            .limit(MAX_NOTICES)
        )
    )
