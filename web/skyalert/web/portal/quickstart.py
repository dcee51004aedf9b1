"""``/quickstart``: credential, topics, format and channel, then code that runs as generated."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from skyalert.auth.credentials import ALL, CredentialView
from skyalert.auth.errors import AuthError
from skyalert.auth.principal import Principal
from skyalert.web.api.discovery import discovery_document
from skyalert.web.middleware.csrf import checked_form
from skyalert.web.portal import quickstart_code
from skyalert.web.portal.archive_views import readable_topics
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.portal.topics import alert_rates, by_mission
from skyalert.web.state import AppState, State

router = APIRouter(include_in_schema=False)

NEW = "new"
CHANNELS = ("kafka", "websocket")


@dataclass
class Choice:
    """The wizard's answers as submitted, and what is wrong with them."""

    credential: str = NEW
    name: str = "quickstart"
    topics: list[str] = field(default_factory=list)
    format: str = "json"
    channel: str = "kafka"
    errors: list[str] = field(default_factory=list)


async def _wizard(
    request: Request,
    state: AppState,
    viewer: Principal | None,
    choice: Choice,
    status_code: int = 200,
) -> HTMLResponse:
    credentials: list[CredentialView] = []
    if viewer is not None:
        credentials = await run_in_threadpool(state.auth.directory.credentials, viewer.user_id)
    rates = await run_in_threadpool(alert_rates, state)
    return render(
        request,
        "quickstart.html",
        status_code=status_code,
        choice=choice,
        credentials=[c for c in credentials if not c.public],
        missions=by_mission(tuple(readable_topics(state, viewer))),
        rates=rates or {},
    )


@router.get("/quickstart", response_class=HTMLResponse)
async def quickstart(request: Request, state: State, viewer: Viewer, topic: str = "") -> Response:
    choice = Choice(topics=[topic] if state.catalog.get(topic) else [])
    return await _wizard(request, state, viewer, choice)


def _check(state: AppState, viewer: Principal, choice: Choice, owned: set[str]) -> None:
    readable = {t.name for t in readable_topics(state, viewer)}
    if not choice.topics:
        choice.errors.append("Step 2: pick at least one topic.")
    unknown = [t for t in choice.topics if t not in readable]
    if unknown:
        choice.errors.append(f"Step 2: you may not read {', '.join(unknown)}.")
    if choice.credential == NEW:
        if not 1 <= len(choice.name) <= 100:
            choice.errors.append("Step 1: give the new credential a name (1 to 100 characters).")
    elif choice.credential not in owned:
        choice.errors.append("Step 1: pick one of your credentials, or create a new one.")
    if choice.format not in ("json", "voevent"):
        choice.errors.append("Step 3: the format is JSON or VOEvent.")
    if choice.channel not in CHANNELS:
        choice.errors.append("Step 3: the channel is Kafka or the WebSocket live feed.")


@router.post("/quickstart", response_class=HTMLResponse)
async def generate(request: Request, state: State, viewer: Viewer) -> Response:
    form = await checked_form(request, state.auth.secret)
    choice = Choice(
        credential=str(form.get("credential", NEW)),
        name=str(form.get("name", "")).strip(),
        topics=[str(t) for t in form.getlist("topic")],
        format=str(form.get("format", "json")),
        channel=str(form.get("channel", "kafka")),
    )
    if viewer is None:
        choice.errors.append("Log in first: the code needs a credential of your account.")
        return await _wizard(request, state, viewer, choice, status_code=401)
    owned = await run_in_threadpool(state.auth.directory.credentials, viewer.user_id)
    _check(state, viewer, choice, {c.client_id for c in owned if not c.public})
    if choice.errors:
        return await _wizard(request, state, viewer, choice, status_code=400)
    client_id, secret = choice.credential, None
    if choice.credential == NEW:
        try:
            shown, secret = await run_in_threadpool(
                lambda: state.auth.directory.create_credential(
                    viewer.user_id, choice.name, ALL, actor=viewer.email
                )
            )
        except AuthError as exc:
            choice.errors.append(f"Step 1: {exc}")
            return await _wizard(request, state, viewer, choice, status_code=exc.http_status)
        client_id = shown.client_id
    code = quickstart_code.Request(
        discovery=discovery_document(state),
        client_id=client_id,
        client_secret=secret,
        topics=choice.topics,
        format="voevent" if choice.format == "voevent" else "json",
        channel=choice.channel,
    )
    rates = await run_in_threadpool(alert_rates, state) or {}
    per_day = sum(rates[t].per_day for t in choice.topics if t in rates)
    snippets = quickstart_code.snippets(code)
    if choice.channel == "websocket":
        first = ("javascript", "python-stream")
        snippets.sort(key=lambda s: first.index(s.key) if s.key in first else len(first))
    response = render(
        request,
        "quickstart_code.html",
        choice=choice,
        client_id=client_id,
        secret=secret,
        snippets=snippets,
        per_day=per_day,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
