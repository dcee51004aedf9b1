"""``/account/subscriptions``: email subscriptions on the portal (create, edit, send a test
message, delete), on the same rules as ``/api/v1/subscriptions``."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from skyalert.auth.principal import Principal
from skyalert.broker.emails import ondemand, subscriptions
from skyalert.broker.emails.errors import SubscriptionError
from skyalert.broker.emails.worker import mail_context
from skyalert.web.middleware.csrf import checked_form
from skyalert.web.portal.archive_views import readable_topics
from skyalert.web.portal.pages import LoggedIn, render
from skyalert.web.portal.topics import by_mission
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/account/subscriptions", include_in_schema=False)
NOTICES = {
    "created": "Subscription created.",
    "saved": "Subscription saved.",
    "deleted": "Subscription deleted.",
}
T = TypeVar("T")
FORMATS = (
    ("text", "Text summary"),
    ("json", "Summary with the JSON alert attached"),
    ("voevent", "Summary with the VOEvent XML attached (VOEvent topics only)"),
)


def _fields(form: FormData) -> dict[str, Any]:
    """The form as the subscription API's fields; a bad filter is reported by the checks."""
    text = str(form.get("filter", "")).strip()
    try:
        parsed: Any = json.loads(text) if text else None
    except ValueError as exc:
        raise SubscriptionError(f"filter: not valid JSON ({exc})") from None
    return {
        "name": str(form.get("name", "")).strip(),
        "topics": [str(t) for t in form.getlist("topic")],
        "format": str(form.get("format", "json")),
        "filter": parsed,
        "include_tests": form.get("include_tests") == "1",
    }


def _values(form: FormData) -> dict[str, Any]:
    """What was typed, to show the form again after an error."""
    values: dict[str, Any] = {k: v for k, v in form.items() if k != "topic"}
    values["topics"] = form.getlist("topic")
    values["include_tests"] = form.get("include_tests") == "1"
    values["active"] = form.get("active") == "1"
    return values


async def _page(
    request: Request,
    state: AppState,
    viewer: Principal,
    *,
    editing: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    error: str = "",
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    def load(session: Session) -> list[dict[str, Any]]:
        return [
            subscriptions.represent(session, sub, state.settings.base_url)
            for sub in subscriptions.listing(session, viewer)
        ]

    subs = await state.write(load)
    return render(
        request,
        "account/subscriptions.html",
        status_code=status_code,
        subs=subs,
        editing=editing,
        values=values or {"format": "json", "topics": []},
        missions=by_mission(tuple(readable_topics(state, viewer))),
        formats=FORMATS,
        error=error,
        notice=notice,
    )


@router.get("", response_class=HTMLResponse)
async def listing(request: Request, state: State, viewer: LoggedIn, notice: str = "") -> Response:
    said = NOTICES.get(notice, "")
    return await _page(request, state, viewer, notice=said)


@router.post("", response_class=HTMLResponse)
async def create(request: Request, state: State, principal: LoggedIn) -> Response:
    form = await checked_form(request, state.auth.secret)
    try:
        fields = _fields(form)
        await state.write(lambda s: subscriptions.create(s, principal, state.catalog, fields))
    except SubscriptionError as exc:
        return await _page(
            request,
            state,
            principal,
            values=_values(form),
            error=str(exc),
            status_code=exc.http_status,
        )
    return RedirectResponse("/account/subscriptions?notice=created", status_code=303)


def _owned(state: AppState, viewer: Principal, sub_id: int) -> dict[str, Any]:
    with state.sessions() as session:
        sub = subscriptions.owned(session, viewer, sub_id)
        return subscriptions.represent(session, sub, state.settings.base_url)


async def _owned_or_404(state: AppState, viewer: Principal, sub_id: int) -> dict[str, Any]:
    try:
        return await run_in_threadpool(_owned, state, viewer, sub_id)
    except SubscriptionError as exc:
        raise HTTPException(exc.http_status, str(exc)) from None


@router.get("/{sub_id}", response_class=HTMLResponse)
async def edit(request: Request, state: State, principal: LoggedIn, sub_id: int) -> Response:
    sub = await _owned_or_404(state, principal, sub_id)
    values = {**sub, "filter": json.dumps(sub["filter"]) if sub["filter"] else ""}
    return await _page(request, state, principal, editing=sub, values=values)


@router.post("/{sub_id}", response_class=HTMLResponse)
async def save(request: Request, state: State, principal: LoggedIn, sub_id: int) -> Response:
    sub = await _owned_or_404(state, principal, sub_id)
    form = await checked_form(request, state.auth.secret)
    try:
        fields = {**_fields(form), "active": form.get("active") == "1"}
        await state.write(
            lambda s: subscriptions.update(s, principal, state.catalog, sub_id, fields)
        )
    except SubscriptionError as exc:
        return await _page(
            request,
            state,
            principal,
            editing=sub,
            values=_values(form),
            error=str(exc),
            status_code=exc.http_status,
        )
    return RedirectResponse("/account/subscriptions?notice=saved", status_code=303)


@router.post("/{sub_id}/test", response_class=HTMLResponse)
async def send_test(request: Request, state: State, principal: LoggedIn, sub_id: int) -> Response:
    await checked_form(request, state.auth.secret)

    def send() -> str:
        with state.sessions() as session:
            sub = subscriptions.owned(session, principal, sub_id)
        ondemand.send_test(
            state.settings, state.sessions, mail_context(state.settings), state.catalog, sub
        )
        return sub.recipient

    try:
        recipient = await run_in_threadpool(send)
    except SubscriptionError as exc:
        return await _page(request, state, principal, error=str(exc), status_code=exc.http_status)
    return await _page(
        request, state, principal, notice=f"A test message is on its way to {recipient}."
    )


@router.get("/{sub_id}/delete", response_class=HTMLResponse)
async def confirm_delete(
    request: Request, state: State, principal: LoggedIn, sub_id: int
) -> Response:
    sub = await _owned_or_404(state, principal, sub_id)
    return render(request, "account/subscription_delete.html", sub=sub)


@router.post("/{sub_id}/delete", response_class=HTMLResponse)
async def delete(request: Request, state: State, principal: LoggedIn, sub_id: int) -> Response:
    await checked_form(request, state.auth.secret)
    await _owned_or_404(state, principal, sub_id)
    await state.write(lambda s: subscriptions.delete(s, principal, sub_id))
    return RedirectResponse("/account/subscriptions?notice=deleted", status_code=303)
