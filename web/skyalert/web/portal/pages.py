"""The portal's HTML pages: rendering shared by every page, and the home page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from skyalert.auth.principal import Principal
from skyalert.auth.scopes import ADMIN
from skyalert.auth.sessions import COOKIE
from skyalert.web.middleware.csrf import csrf_token
from skyalert.web.portal.archive_views import latest_alerts, readable_topics
from skyalert.web.portal.system_status import system_status
from skyalert.web.portal.topic_search import format_label, search_text
from skyalert.web.state import State

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[1] / "templates")
templates.env.globals.update(topic_search_text=search_text, format_label=format_label)


async def portal_viewer(request: Request, state: State) -> Principal | None:
    """Who is logged in on the portal (or None); remembered for the page's header."""
    cookie = request.cookies.get(COOKIE)
    viewer = await run_in_threadpool(state.auth.principal_from_session, cookie) if cookie else None
    request.state.portal_user = viewer
    return viewer


Viewer = Annotated[Principal | None, Depends(portal_viewer)]


def login_url(request: Request) -> str:
    """The login page, coming back to this page (with its query) afterwards."""
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return "/account/login?" + urlencode({"next": target}, safe="/")


async def logged_in(request: Request, viewer: Viewer) -> Principal:
    """The logged-in viewer; anyone else is sent to log in first, and back."""
    if viewer is None:
        raise HTTPException(303, "log in first", headers={"Location": login_url(request)})
    return viewer


LoggedIn = Annotated[Principal, Depends(logged_in)]


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``templates/``, with the viewer and this browser's CSRF token filled in."""
    viewer: Principal | None = getattr(request.state, "portal_user", None)
    csrf = ""
    if hasattr(request.state, "csrf_cookie"):
        csrf = csrf_token(request, request.app.state.skyalert.auth.secret)
    context = {
        "portal_user": viewer,
        "portal_user_is_admin": viewer is not None and viewer.has(ADMIN),
        "csrf_token": csrf,
        **context,
    }
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: State, viewer: Viewer) -> HTMLResponse:
    topics = list(state.catalog.topics)
    counts = await run_in_threadpool(state.kafka.counts, [t.name for t in topics])
    status = await run_in_threadpool(system_status, state)
    readable = [t.name for t in readable_topics(state, viewer)]
    latest = await run_in_threadpool(latest_alerts, state, readable)
    return render(
        request,
        "home.html",
        topics=topics,
        counts=counts,
        catalog=state.catalog,
        status=status,
        latest=latest,
    )
