"""Resume: the alerts a live-feed subscriber missed, from the archive, then the switch to live.

The subscriber is registered with the hub *before* the archive is read, and live alerts are
held back meanwhile. Every alert is thus in the archive read, or arrives live after it, or
both; the ``both`` are dropped by alert id at the switch-over (:meth:`Subscriber.go_live`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import AlertQuery
from skyalert.broker.livefeed.hub import Subscriber
from skyalert.broker.livefeed.live_alert import LiveAlert, from_archive
from skyalert.broker.livefeed.protocol import Subscription

PAGE: Final = 200


@dataclass
class ReplayPage:
    alerts: list[LiveAlert] = field(default_factory=list)
    #: Archived but not yet acknowledged by Kafka: their live copy may come much later.
    unpublished: set[str] = field(default_factory=set)
    #: Where the next page starts; None after the last page.
    next_cursor: str | None = None
    #: For ``last`` N: the oldest alert of the full window (older live copies are late ones).
    start: str | None = None


def read_page(
    sessions: sessionmaker[Session], subscription: Subscription, after: str | None
) -> ReplayPage:
    """One page of missed alerts matching ``subscription``, oldest first. Blocking."""
    since = subscription.since
    if since.kind == "now":
        return ReplayPage()
    if since.kind == "last":
        return _last(sessions, subscription)
    query = AlertQuery(
        topics=subscription.topics,
        since=since.time,
        cursor=after or since.cursor,
        test=None if subscription.test else False,
        limit=PAGE,
        order="asc",
    )
    with sessions() as session:
        found = archive.search(session, query)
        return _page(subscription, found.alerts, found.next_cursor)


def _last(sessions: sessionmaker[Session], subscription: Subscription) -> ReplayPage:
    """The newest N matching alerts (later ones arrive live)."""
    wanted = subscription.since.last
    rows: list[archive.Alert] = []
    cursor: str | None = None
    with sessions() as session:
        while len(rows) < wanted:
            query = AlertQuery(
                topics=subscription.topics,
                cursor=cursor,
                test=None if subscription.test else False,
                limit=PAGE,
                order="desc",
            )
            found = archive.search(session, query)
            rows.extend(r for r in found.alerts if subscription.wants(r.document, r.test))
            cursor = found.next_cursor
            if cursor is None:
                break
        window = list(reversed(rows[:wanted]))
        page = _page(subscription, window, None)
        if window and len(window) == wanted:
            page.start = window[0].id
        return page


def _page(
    subscription: Subscription, rows: list[archive.Alert], next_cursor: str | None
) -> ReplayPage:
    matching = [row for row in rows if subscription.wants(row.document, row.test)]
    return ReplayPage(
        alerts=[from_archive(row) for row in matching],
        unpublished={row.id for row in matching if row.published_at is None},
        next_cursor=next_cursor,
    )


async def catch_up(subscriber: Subscriber, sessions: sessionmaker[Session]) -> None:
    """Queue the missed alerts page by page, then the live ones held back meanwhile."""
    after: str | None = None
    while True:
        page = await asyncio.to_thread(read_page, sessions, subscriber.subscription, after)
        await subscriber.replay(page.alerts, unpublished=page.unpublished, start=page.start)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    await subscriber.go_live()
