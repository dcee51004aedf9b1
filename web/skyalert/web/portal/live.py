"""``/live``: alerts as they arrive, over the WebSocket live feed, listed and plotted on the sky."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from skyalert.web.portal.archive_views import readable_topics
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.portal.skymap import graticule
from skyalert.web.portal.topics import by_mission
from skyalert.web.state import State

router = APIRouter(include_in_schema=False)


@router.get("/live", response_class=HTMLResponse)
async def live(request: Request, state: State, viewer: Viewer, topic: str = "") -> HTMLResponse:
    topics = readable_topics(state, viewer)
    chosen = {topic} if state.catalog.get(topic) in topics else {t.name for t in topics}
    return render(
        request,
        "live.html",
        missions=by_mission(tuple(topics)),
        chosen=chosen,
        grid=graticule(),
        stream_url=state.settings.stream_url,
    )
