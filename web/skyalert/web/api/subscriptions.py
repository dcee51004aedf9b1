"""``/api/v1/subscriptions`` and ``/api/v1/email-recipients``: email notifications by API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from skyalert.auth.principal import Principal
from skyalert.broker.emails import ondemand, recipients, subscriptions
from skyalert.broker.emails.worker import mail_context
from skyalert.web.api.security import CurrentPrincipal
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/api/v1", tags=["email subscriptions"])


class SubscriptionFields(BaseModel):
    """A subscription; on PATCH only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=100, description="Your name for it.")
    recipient: str | None = Field(
        default=None,
        description="Where to mail; default your account's verified address. Another address "
        "must be confirmed first (POST /api/v1/email-recipients).",
    )
    topics: list[str] | None = Field(default=None, description="Topics to mail (required).")
    format: Literal["text", "json", "voevent"] | None = Field(
        default=None,
        description="text: a readable summary; json (default): the summary with the alert's "
        "JSON inline and attached; voevent: the summary with the VOEvent XML attached "
        "(VOEvent topics only).",
    )
    filter: dict[str, Any] | None = Field(
        default=None, description="A filter in the shared filter language; null: every alert."
    )
    include_tests: bool | None = Field(default=None, description="Mail test alerts too.")
    active: bool | None = Field(default=None, description="false stops mails, true resumes.")


class RecipientFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=320, description="The address to confirm.")


def _fields(body: SubscriptionFields) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


async def _view(state: AppState, sub_id: int, principal: Principal) -> dict[str, Any]:
    def view(session: Session) -> dict[str, Any]:
        sub = subscriptions.owned(session, principal, sub_id)
        return subscriptions.represent(session, sub, state.settings.base_url)

    return await state.read(view)


@router.get("/subscriptions")
async def list_subscriptions(principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """Your email subscriptions, each with its delivery record and last failure."""

    def load(session: Session) -> list[dict[str, Any]]:
        return [
            subscriptions.represent(session, sub, state.settings.base_url)
            for sub in subscriptions.listing(session, principal)
        ]

    return {"subscriptions": await state.read(load)}


@router.post("/subscriptions", status_code=201)
async def create_subscription(
    body: SubscriptionFields, principal: CurrentPrincipal, state: State
) -> JSONResponse:
    """Subscribe: topics you may read, an optional filter, a format and a verified address."""
    fields = _fields(body)

    made = await state.write(lambda s: subscriptions.create(s, principal, state.catalog, fields))
    shown = await _view(state, made.id, principal)
    return JSONResponse(shown, status_code=201, headers={"Location": shown["links"]["self"]})


@router.get("/subscriptions/{sub_id}")
async def get_subscription(sub_id: int, principal: CurrentPrincipal, state: State) -> Any:
    """One of your subscriptions."""
    return await _view(state, sub_id, principal)


@router.patch("/subscriptions/{sub_id}")
async def update_subscription(
    sub_id: int, body: SubscriptionFields, principal: CurrentPrincipal, state: State
) -> Any:
    """Change the fields sent; ``{"active": true}`` resumes a stopped subscription."""
    fields = _fields(body)

    await state.write(lambda s: subscriptions.update(s, principal, state.catalog, sub_id, fields))
    return await _view(state, sub_id, principal)


@router.delete("/subscriptions/{sub_id}", status_code=204)
async def delete_subscription(sub_id: int, principal: CurrentPrincipal, state: State) -> Response:
    """Delete a subscription and its delivery record."""

    await state.write(lambda s: subscriptions.delete(s, principal, sub_id))
    return Response(status_code=204)


@router.post("/subscriptions/{sub_id}/test", status_code=202)
async def send_test_message(sub_id: int, principal: CurrentPrincipal, state: State) -> Any:
    """Send a sample alert of the subscription's first topic to its address now."""

    sub = await state.read(lambda s: subscriptions.owned(s, principal, sub_id))

    def send() -> dict[str, Any]:
        ctx = mail_context(state.settings)
        message_id = ondemand.send_test(state.settings, state.sessions, ctx, state.catalog, sub)
        return {"sent": True, "recipient": sub.recipient, "message_id": message_id}

    return await run_in_threadpool(send)


@router.get("/email-recipients")
async def list_recipients(principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """Addresses you may mail alerts to, and those waiting for confirmation."""

    def load(session: Session) -> list[dict[str, object]]:
        return recipients.listed(session, recipients.owner(session, principal.user_id))

    return {"recipients": await state.read(load)}


@router.post("/email-recipients", status_code=202)
async def add_recipient(
    body: RecipientFields, principal: CurrentPrincipal, state: State
) -> dict[str, Any]:
    """Mail a confirmation link to an address; once opened, subscriptions may use it."""
    ctx = mail_context(state.settings)

    def add() -> dict[str, Any]:
        with state.sessions.begin() as session:
            user = recipients.owner(session, principal.user_id)
            row, secret = recipients.request_confirmation(session, ctx.secret, user, body.address)
            address, account = row.address, user.email
        if secret is not None:
            ondemand.send_confirmation(
                state.settings,
                state.sessions,
                ctx,
                address=address,
                account=account,
                secret=secret,
            )
        return {"address": address, "verified": secret is None, "confirmation_sent": bool(secret)}

    return await run_in_threadpool(add)
