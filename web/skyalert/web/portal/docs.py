"""``/docs/…``: how to receive, publish and filter alerts, written against this deployment."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from skyalert.web.api.discovery import discovery_document
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.state import State

router = APIRouter(include_in_schema=False)

#: Slug and title of every page, in reading order; the template is ``docs/<slug>.html``.
PAGES: tuple[tuple[str, str], ...] = (
    ("kafka", "Receive alerts over Kafka"),
    ("websocket", "The WebSocket live feed"),
    ("email", "Alerts by email"),
    ("filters", "The filter language"),
    ("publishing", "Publish alerts"),
    ("vtp", "Coming from GCN Classic VTP"),
    ("mirror", "Mirror skyalert or GCN into your own broker"),
    ("api", "The HTTP API"),
    ("faq", "Frequently asked questions"),
)
TITLES = dict(PAGES)


@router.get("/docs", response_class=HTMLResponse)
async def docs_index(request: Request, state: State, viewer: Viewer) -> HTMLResponse:
    return render(request, "docs/index.html", pages=PAGES, slug="", title="Documentation")


@router.get("/docs/{slug}", response_class=HTMLResponse)
async def docs_page(slug: str, request: Request, state: State, viewer: Viewer) -> HTMLResponse:
    title = TITLES.get(slug)
    if title is None:
        raise HTTPException(404, f"There is no documentation page {slug!r}; see /docs.")
    return render(
        request,
        f"docs/{slug}.html",
        pages=PAGES,
        slug=slug,
        title=title,
        discovery=discovery_document(state),
        catalog=state.catalog,
        publish_rate=state.settings.rate_limit_publish.text.replace("/", " alerts per "),
        max_alert_mib=state.settings.ingest_max_bytes / 2**20,
        settings=state.settings,
        vtp_host=urlsplit(state.settings.base_url).hostname,  # where the public reaches us
    )
