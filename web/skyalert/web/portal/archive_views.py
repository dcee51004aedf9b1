"""What of the archive a portal visitor may see, and the short lists pages show."""

from __future__ import annotations

from collections.abc import Sequence

from skyalert.auth.principal import Principal
from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import Alert, AlertQuery
from skyalert.schemas.catalog import Topic, Visibility
from skyalert.web.state import AppState

#: Alerts listed on the home page and on each topic page.
LATEST = 10


def may_read(topic: Topic, viewer: Principal | None) -> bool:
    """Public topics for everyone; restricted ones for logged-in members of their group."""
    return topic.visibility is Visibility.PUBLIC or (viewer is not None and viewer.may_read(topic))


def readable_topics(state: AppState, viewer: Principal | None) -> list[Topic]:
    return [t for t in state.catalog.alert_topics if may_read(t, viewer)]


def latest_alerts(state: AppState, topics: Sequence[str], limit: int = LATEST) -> list[Alert]:
    """The newest real (not test) alerts of these topics; blocking, run it in a thread."""
    if not topics:
        return []
    with state.sessions() as session:
        query = AlertQuery(topics=topics, limit=limit, test=False)
        return archive.search(session, query).alerts
