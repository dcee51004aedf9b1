"""What of the archive a portal visitor may see, and the short lists pages show."""

from __future__ import annotations

from collections.abc import Sequence

from skyalert.auth.principal import Principal, may_view
from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import Alert, AlertQuery
from skyalert.schemas.catalog import Topic
from skyalert.web.state import AppState

#: Alerts listed on the home page and on each topic page.
LATEST = 10


def readable_topics(state: AppState, viewer: Principal | None) -> list[Topic]:
    return [t for t in state.catalog.alert_topics if may_view(viewer, t)]


def latest_alerts(state: AppState, topics: Sequence[str], limit: int = LATEST) -> list[Alert]:
    """The newest real (not test) alerts of these topics; blocking, run it in a thread."""
    if not topics:
        return []
    with state.sessions() as session:
        query = AlertQuery(topics=topics, limit=limit, test=False)
        return archive.search(session, query).alerts
