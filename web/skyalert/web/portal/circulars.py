"""``/circulars``: the archive and search, one circular (versions, citation), the event page,
the submission form with a sanitised Markdown preview, the ``.json``/``.txt`` forms and Atom."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from skyalert.auth import ratelimit
from skyalert.auth.models import User
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import CIRCULAR_MODERATE, CIRCULAR_SUBMIT
from skyalert.auth.users import scopes_of_user
from skyalert.broker.archive.store import Alert
from skyalert.broker.circulars import endorsements, export, search, submission
from skyalert.broker.circulars.errors import CircularError, CircularNotFound
from skyalert.broker.circulars.events import event_of
from skyalert.broker.circulars.forms import CircularText, byline, citation, gcn_json, gcn_text
from skyalert.broker.circulars.models import FORMATS, ChangeRequest, Circular, CircularVersion
from skyalert.broker.circulars.notices import notices_of
from skyalert.broker.circulars.render import markdown_html
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.mail import send_mail
from skyalert.schemas.catalog import Role
from skyalert.web.api.circulars import changes_of, circulars_of
from skyalert.web.middleware.csrf import HEADER, check_csrf, checked_form
from skyalert.web.portal.archive_views import readable_topics
from skyalert.web.portal.pages import LoggedIn, Viewer, render
from skyalert.web.state import AppState, State

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
FEED_SIZE = 50


def body_html(circular: CircularText) -> Markup | None:
    """Sanitised HTML for a Markdown body; None for plain text (shown preformatted)."""
    if circular.format != "text/markdown":
        return None
    return Markup(markdown_html(circular.body))  # noqa: S704 - markdown_html sanitises (nh3)


def _when(text: str, name: str, errors: list[str]) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{name}: {text!r} is not a date like 2025-01-31 or 2025-01-31T12:00 (UTC)")
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


@router.get("/circulars", response_class=HTMLResponse)
async def index(
    request: Request,
    state: State,
    viewer: Viewer,
    *,
    query: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> HTMLResponse:
    errors: list[str] = []
    wanted = search.Search(
        query[:2000], _when(since, "from", errors), _when(until, "until", errors), page=page
    )
    found: search.Page | None = None
    if not errors:
        try:
            found = await state.read(lambda session: search.run(session, wanted))
        except CircularError as exc:
            errors.append(str(exc))
    form = {"query": query, "since": since, "until": until}

    def link(to: int) -> str:
        return "/circulars?" + urlencode({**{k: v for k, v in form.items() if v}, "page": to})

    return render(
        request,
        "circulars/index.html",
        status_code=400 if errors else 200,
        form=form,
        errors=errors,
        found=found,
        next_link=link(page + 1) if found and found.more else None,
        previous_link=link(page - 1) if found and page > 1 else None,
        may_submit=viewer is not None and viewer.has(CIRCULAR_SUBMIT),
    )


@router.get("/circulars.atom")
async def atom(request: Request, state: State) -> Response:
    """The newest circulars as an Atom feed (RFC 4287)."""
    page = await state.read(lambda s: search.run(s, search.Search(limit=FEED_SIZE)))
    response = render(
        request,
        "circulars/feed.xml",
        circulars=page.circulars,
        base=state.settings.base_url.rstrip("/"),
        updated=max((c.edited_at or c.created_at for c in page.circulars), default=None),
    )
    return Response(response.body, media_type="application/atom+xml")


@router.get("/circulars/archive.{kind}.tar.gz")
async def bulk_archive(state: State, kind: str) -> Response:
    """Every circular in GCN's JSON (``json``) or text (``txt``) form, one file each."""
    if kind not in ("json", "txt"):
        raise CircularNotFound("the archive comes as archive.json.tar.gz or archive.txt.tar.gz")
    folder = state.settings.var_dir / "circulars"
    path = await run_in_threadpool(
        export.archive_path, state.sessions, folder, "json" if kind == "json" else "txt"
    )
    return FileResponse(path, media_type="application/gzip", filename=f"archive.{kind}.tar.gz")


@router.get("/circulars/new", response_class=HTMLResponse)
async def new(
    request: Request, viewer: LoggedIn, subject: str = "", body: str = ""
) -> HTMLResponse:
    """The submission form, prefilled from ``?subject=&body=`` (as links from notices do)."""
    draft = Draft(subject[:1000], body[:100_000], "text/markdown")
    return _form(request, viewer.has(CIRCULAR_SUBMIT), draft)


def _form(
    request: Request,
    may_submit: bool,
    draft: Draft,
    *,
    error: str = "",
    preview: Markup | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "circulars/new.html",
        status_code=status_code,
        draft=draft,
        formats=FORMATS,
        may_submit=may_submit,
        error=error,
        preview=preview,
    )


def _preview(draft: Draft) -> Markup:
    if draft.format == "text/markdown":
        return Markup(markdown_html(draft.body))  # noqa: S704 - markdown_html sanitises (nh3)
    return Markup("<pre>{}</pre>").format(draft.body)


@router.post("/circulars/preview", response_class=HTMLResponse)
async def preview(
    request: Request, state: State, viewer: LoggedIn, body: Text = "", format: Text = ""
) -> HTMLResponse:
    """The preview of a body as the circular page will show it (the form's live preview)."""
    check_csrf(request, state.auth.secret, request.headers.get(HEADER))
    draft = Draft("", body[: state.settings.ingest_max_bytes], format)
    return HTMLResponse(str(_preview(draft)))


@router.post("/circulars/new", response_model=None)
async def submit(
    request: Request,
    state: State,
    viewer: LoggedIn,
    *,
    subject: Text = "",
    body: Text = "",
    format: Text = "text/plain",
    action: Text = "submit",
) -> Response:
    await checked_form(request, state.auth.secret)
    draft = Draft(subject, body, format)
    may_submit = viewer.has(CIRCULAR_SUBMIT)
    if action == "preview":
        return _form(request, may_submit, draft, preview=_preview(draft))
    try:
        published = await run_in_threadpool(
            circulars_of(state).submit, viewer.user_id, draft, "web"
        )
    except SkyalertError as exc:
        return _form(request, may_submit, draft, error=str(exc), status_code=exc.http_status)
    return RedirectResponse(f"/circulars/{published.number}", status_code=303)


def _endorsement_context(state: AppState) -> endorsements.Context:
    return endorsements.Context(state.settings, state.auth.secret, state.catalog)


async def _endorsement_page(
    request: Request, state: State, user_id: int, notice: str = "", status_code: int = 200
) -> HTMLResponse:
    def read(session: Session) -> tuple[bool, list[tuple[str, str]]]:
        user = session.get(User, user_id)
        assert user is not None
        asked = []
        for row in endorsements.requests_of(session, user):
            endorser = session.get(User, row.endorser_id)
            asked.append((endorser.email if endorser else "(deleted)", row.status))
        return CIRCULAR_SUBMIT in scopes_of_user(session, user_id, state.catalog), asked

    is_submitter, asked = await state.read(read)
    return render(
        request,
        "circulars/endorsements.html",
        status_code=status_code,
        is_submitter=is_submitter,
        asked=asked,
        notice=notice,
    )


@router.get("/circulars/endorsements", response_class=HTMLResponse)
async def endorsement_page(request: Request, state: State, viewer: LoggedIn) -> HTMLResponse:
    """Ask an existing submitter to endorse you; see your requests."""
    return await _endorsement_page(request, state, viewer.user_id)


@router.post("/circulars/endorsements", response_model=None)
async def ask_endorsement(
    request: Request, state: State, viewer: LoggedIn, endorser: Text = ""
) -> Response:
    await checked_form(request, state.auth.secret)
    bucket = f"endorse:{viewer.user_id}"
    rate = state.settings.rate_limit_circulars
    await run_in_threadpool(ratelimit.hit, state.sessions, bucket, rate, "endorsement requests")
    ctx = _endorsement_context(state)

    def ask(session: Session) -> endorsements.Sent:
        user = session.get(User, viewer.user_id)
        assert user is not None
        return endorsements.request(session, ctx, user, endorser)

    try:
        sent = await state.write(ask)
    except CircularError as exc:
        return await _endorsement_page(request, state, viewer.user_id, str(exc), exc.http_status)
    if sent.mail is not None:
        await run_in_threadpool(send_mail, state.settings, sent.mail)
    # The same answer whether or not the address is a submitter's: nothing leaks.
    notice = (
        "If that address belongs to a circular submitter, they have been asked by mail. "
        "You will get a mail when they decide."
    )
    return await _endorsement_page(request, state, viewer.user_id, notice)


@router.get("/circulars/endorsements/decide", response_class=HTMLResponse)
async def decide_page(request: Request, state: State, viewer: Viewer, token: str = "") -> Response:
    """The endorser's page behind the mail link: who asks, and approve / reject / report."""
    found = await state.read(
        lambda session: endorsements.pending_for(session, state.auth.secret, token)[1]
    )
    return render(
        request,
        "circulars/decide.html",
        requester=byline(found.name, found.affiliation, found.email),
        token=token,
    )


@router.post("/circulars/endorsements/decide", response_model=None)
async def decide(
    request: Request, state: State, viewer: Viewer, token: Text = "", decision: Text = ""
) -> Response:
    await checked_form(request, state.auth.secret)
    chosen = endorsements.as_decision(decision)
    ctx = _endorsement_context(state)
    mail = await state.write(lambda session: endorsements.decide(session, ctx, token, chosen))
    await run_in_threadpool(send_mail, state.settings, mail)
    return render(request, "circulars/decided.html", outcome=endorsements.OUTCOME[chosen])


@router.get("/circulars/change-requests", response_class=HTMLResponse)
async def change_requests(
    request: Request, state: State, viewer: LoggedIn, notice: str = ""
) -> HTMLResponse:
    """The moderators' queue: each pending change request beside the text it would replace."""
    if not viewer.has(CIRCULAR_MODERATE):
        return render(
            request, "circulars/change_requests.html", status_code=403, rows=[], allowed=False
        )
    pending = await run_in_threadpool(changes_of(state).pending, viewer.user_id)

    def read(session: Session) -> list[tuple[ChangeRequest, Circular]]:
        return [(row, submission.get(session, row.number)) for row in pending]

    rows = await state.read(read)
    return render(
        request, "circulars/change_requests.html", rows=rows, notice=notice[:200], allowed=True
    )


@router.post("/circulars/change-requests/{request_id}", response_model=None)
async def decide_change(
    request: Request,
    state: State,
    viewer: LoggedIn,
    request_id: int,
    *,
    number: Annotated[int, Form()],
    decision: Text = "",
) -> Response:
    """A moderator approves (version n+1) or rejects a change request."""
    await checked_form(request, state.auth.secret)
    changes = changes_of(state)
    if decision not in ("approve", "reject"):
        raise CircularError("choose approve or reject")
    decide = changes.approve if decision == "approve" else changes.reject
    done = await run_in_threadpool(decide, viewer.user_id, number, request_id)
    notice = f"Change request {request_id} for circular {number}: {done.status}"
    return RedirectResponse(
        "/circulars/change-requests?" + urlencode({"notice": notice}), status_code=303
    )


@router.post("/circulars/{number}/change-requests", response_model=None)
async def request_change(
    request: Request,
    state: State,
    viewer: LoggedIn,
    number: int,
    *,
    subject: Text = "",
    body: Text = "",
    format: Text = "text/plain",
) -> Response:
    """A submitter proposes a corrected text; moderators get a mail."""
    await checked_form(request, state.auth.secret)
    draft = Draft(subject, body, format)
    try:
        await run_in_threadpool(changes_of(state).propose, viewer.user_id, number, draft)
    except SkyalertError as exc:
        return await _detail(
            request,
            state,
            viewer,
            number,
            None,
            status_code=exc.http_status,
            change_notice=str(exc),
        )
    sent = "Your change request was sent to the moderators."
    return await _detail(request, state, viewer, number, None, change_notice=sent)


@router.get("/circulars/events/{event:path}", response_class=HTMLResponse)
async def event_page(request: Request, state: State, viewer: Viewer, event: str) -> HTMLResponse:
    """Everything about one event: its circulars and its notices, oldest first."""
    named = event_of(event)
    topics = [t.name for t in readable_topics(state, viewer) if t.role is Role.ALERTS]

    def read(session: Session) -> tuple[list[Circular], list[Alert]]:
        page = search.run(session, search.Search(event_id=event, limit=search.MAX_PAGE))
        found = notices_of(session, named, topics) if named else []
        return sorted(page.circulars, key=lambda c: c.number), found

    circulars, notices = await state.read(read)
    return render(
        request,
        "circulars/event.html",
        status_code=200 if circulars or notices else 404,
        event=event,
        circulars=circulars,
        notices=notices,
    )


def _read_version(session: Session, number: int, version: int | None) -> CircularText:
    current = submission.get(session, number)
    return current if version is None else submission.get_version(session, number, version)


@router.get("/circulars/{number}.json")
async def as_json(state: State, number: int, version: int | None = None) -> Response:
    def read(session: Session) -> dict[str, Any]:
        current = submission.get(session, number)
        return gcn_json(_read_version(session, number, version), current.submitted_how)

    document = await state.read(read)
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return Response(text, media_type="application/json")


@router.get("/circulars/{number}.txt")
async def as_text(state: State, number: int, version: int | None = None) -> Response:
    shown = await state.read(lambda s: _read_version(s, number, version))
    return Response(gcn_text(shown), media_type="text/plain; charset=utf-8")


@router.get("/circulars/{number}", response_class=HTMLResponse)
async def detail(
    request: Request, state: State, viewer: Viewer, number: int, version: int | None = None
) -> HTMLResponse:
    return await _detail(request, state, viewer, number, version)


async def _detail(
    request: Request,
    state: AppState,
    viewer: Principal | None,
    number: int,
    version: int | None,
    *,
    status_code: int = 200,
    change_notice: str = "",
) -> HTMLResponse:
    def read(session: Session) -> tuple[Circular, CircularText, list[CircularVersion]]:
        current = submission.get(session, number)
        return (
            current,
            _read_version(session, number, version),
            submission.versions(session, number),
        )

    current, shown, versions = await state.read(read)
    return render(
        request,
        "circulars/detail.html",
        status_code=status_code,
        circular=current,
        shown=shown,
        versions=versions,
        html=body_html(shown),
        citation=citation(shown),
        may_correct=viewer is not None and viewer.has(CIRCULAR_MODERATE),
        may_request=viewer is not None and viewer.has(CIRCULAR_SUBMIT),
        draft=Draft(current.subject, current.body, current.format),
        formats=FORMATS,
        change_notice=change_notice,
    )


@router.get("/circulars/{number}/edit", response_class=HTMLResponse)
async def edit_page(request: Request, state: State, viewer: LoggedIn, number: int) -> HTMLResponse:
    current = await state.read(lambda s: submission.get(s, number))
    draft = Draft(current.subject, current.body, current.format)
    return _edit_form(request, current, draft, viewer.has(CIRCULAR_MODERATE))


def _edit_form(
    request: Request,
    current: Circular,
    draft: Draft,
    allowed: bool,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "circulars/edit.html",
        status_code=status_code,
        circular=current,
        draft=draft,
        formats=FORMATS,
        allowed=allowed,
        error=error,
    )


@router.post("/circulars/{number}/edit", response_model=None)
async def correct(
    request: Request,
    state: State,
    viewer: LoggedIn,
    number: int,
    *,
    subject: Text = "",
    body: Text = "",
    format: Text = "text/plain",
) -> Response:
    """A moderator's correction: a new version, streamed again; the old ones stay readable."""
    await checked_form(request, state.auth.secret)
    draft = Draft(subject, body, format)
    try:
        await run_in_threadpool(circulars_of(state).correct, viewer.user_id, number, draft)
    except SkyalertError as exc:
        current = await state.read(lambda s: submission.get(s, number))
        return _edit_form(
            request,
            current,
            draft,
            viewer.has(CIRCULAR_MODERATE),
            error=str(exc),
            status_code=exc.http_status,
        )
    return RedirectResponse(f"/circulars/{number}", status_code=303)


@router.post("/circulars/{number}/withdraw", response_model=None)
async def withdraw(request: Request, state: State, viewer: LoggedIn, number: int) -> Response:
    """A moderator withdraws spam; the page then answers 410 Gone."""
    await checked_form(request, state.auth.secret)
    await run_in_threadpool(circulars_of(state).withdraw, viewer.user_id, number)
    return RedirectResponse("/circulars", status_code=303)
