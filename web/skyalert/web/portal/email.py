"""Pages behind the links in mails: unsubscribe (RFC 8058 one-click too) and address confirmation.

Neither needs a login: the signed token in the link is the permission. A GET only shows what
the link would do (mail scanners fetch links); the change happens on POST.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from skyalert.broker.emails import recipients, subscriptions
from skyalert.broker.emails.links import read_unsubscribe_token
from skyalert.broker.emails.models import EmailSubscription
from skyalert.web.portal.pages import render
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/email", include_in_schema=False)


def _described(subs: list[EmailSubscription]) -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "recipient": s.recipient,
            "topics": json.loads(s.topics),
            "active": s.active,
        }
        for s in subs
    ]


def _subscriptions(state: AppState, token: str, stop: bool) -> list[dict[str, Any]]:
    ids = read_unsubscribe_token(state.auth.secret, token)
    with state.sessions.begin() as session:
        if stop:
            found = subscriptions.unsubscribe(session, ids)
        else:
            found = [s for s in (session.get(EmailSubscription, i) for i in ids) if s]
        return _described(found)


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, state: State, token: str = "") -> HTMLResponse:
    found = await run_in_threadpool(_subscriptions, state, token, False)
    return render(request, "email/unsubscribe.html", subscriptions=found, token=token, done=False)


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(request: Request, state: State, token: str = "") -> HTMLResponse:
    """The footer link's button, and mail clients' one-click POST (List-Unsubscribe=One-Click)."""
    found = await run_in_threadpool(_subscriptions, state, token, True)
    return render(request, "email/unsubscribe.html", subscriptions=found, token=token, done=True)


@router.get("/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, state: State, token: str = "") -> HTMLResponse:
    def load(session: Session) -> tuple[str, str]:
        row, user = recipients.pending(session, state.auth.secret, token)
        return row.address, user.email

    address, account = await state.read(load)
    return render(
        request, "email/confirm.html", address=address, account=account, token=token, done=False
    )


@router.post("/confirm", response_class=HTMLResponse)
async def confirm(
    request: Request, state: State, token: Annotated[str, Form()] = ""
) -> HTMLResponse:
    def save(session: Session) -> tuple[str, str]:
        row, user = recipients.pending(session, state.auth.secret, token)
        recipients.confirm(session, state.auth.secret, token)
        return row.address, user.email

    address, account = await state.write(save)
    return render(
        request, "email/confirm.html", address=address, account=account, token="", done=True
    )
