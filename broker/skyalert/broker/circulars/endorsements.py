"""Becoming a submitter by endorsement: request, approve, reject, report; a mail at each step.

A user names an existing submitter by address. Whether that address is a submitter (or an
account at all) is never shown to the requester: the answer is the same either way, and only a
real submitter gets a mail, with a one-time link to decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.models import User
from skyalert.auth.scopes import CIRCULAR_SUBMIT, CIRCULAR_SUBMITTERS
from skyalert.auth.users import find_user, grant_group, scopes_of_user
from skyalert.broker.circulars.errors import CircularError, CircularNotFound
from skyalert.broker.circulars.forms import byline
from skyalert.broker.circulars.models import Endorsement
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.mail import Mail
from skyalert.broker.core.secrets import keyed_hash, random_token
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import Catalog

Decision = Literal["approve", "reject", "report"]
OUTCOME: dict[Decision, str] = {"approve": "approved", "reject": "rejected", "report": "reported"}
DECIDE_PATH = "/circulars/endorsements/decide"


def as_decision(text: str) -> Decision:
    for decision in OUTCOME:
        if decision == text:
            return decision
    raise CircularError("choose approve, reject or report")


@dataclass(frozen=True)
class Sent:
    """What a request produced: the mail to the endorser, if there was one to write."""

    mail: Mail | None


def _who(user: User) -> str:
    return byline(user.name, user.affiliation, user.email)


@dataclass(frozen=True)
class Context:
    settings: Settings
    secret: bytes
    catalog: Catalog


def request(session: Session, ctx: Context, requester: User, endorser_email: str) -> Sent:
    """Ask the submitter at ``endorser_email``; Sent(None) when there is nobody to ask."""
    if CIRCULAR_SUBMIT in scopes_of_user(session, requester.id, ctx.catalog):
        raise CircularError("you are a circular submitter already")
    endorser = find_user(session, endorser_email.strip())
    if (
        endorser is None
        or endorser.id == requester.id
        or endorser.disabled
        or CIRCULAR_SUBMIT not in scopes_of_user(session, endorser.id, ctx.catalog)
    ):
        return Sent(None)
    pending = session.scalar(
        select(Endorsement).where(
            Endorsement.requester_id == requester.id,
            Endorsement.endorser_id == endorser.id,
            Endorsement.status == "pending",
        )
    )
    token = random_token(32)
    if pending is None:
        pending = Endorsement(
            requester_id=requester.id, endorser_id=endorser.id, status="pending",
            created_at=utcnow(),
        )  # fmt: skip
        session.add(pending)
    pending.token_hash = keyed_hash(ctx.secret, token)
    link = f"{ctx.settings.base_url}{DECIDE_PATH}?{urlencode({'token': token})}"
    return Sent(
        Mail(
            to=endorser.email,
            subject="Endorsement request: GCN Circulars",
            text=(
                f"{_who(requester)} asks you to endorse them as a submitter of GCN Circulars.\n\n"
                f"If you know them and their work, approve (or reject) here:\n\n  {link}\n\n"
                "If this looks like spam, the same page lets you report it to the moderators. "
                "Ignoring this mail changes nothing.\n"
            ),
        )
    )


def pending_for(session: Session, secret: bytes, token: str) -> tuple[Endorsement, User]:
    """The pending request behind a mail link, and who asked; CircularNotFound if none."""
    found = session.scalar(
        select(Endorsement).where(
            Endorsement.token_hash == keyed_hash(secret, token), Endorsement.status == "pending"
        )
    )
    requester = session.get(User, found.requester_id) if found is not None else None
    if found is None or requester is None:
        raise CircularNotFound("this endorsement link was used already or never existed")
    return found, requester


def decide(session: Session, ctx: Context, token: str, decision: Decision) -> Mail:
    """Apply the endorser's decision (approval grants the group); the mail to the requester."""
    found, requester = pending_for(session, ctx.secret, token)
    endorser = session.get(User, found.endorser_id)
    if endorser is None:
        raise CircularNotFound("the endorser's account no longer exists")
    found.status, found.token_hash, found.decided_at = OUTCOME[decision], None, utcnow()
    if decision == "approve":
        grant_group(session, requester, CIRCULAR_SUBMITTERS, ctx.catalog, actor=endorser.email)
        text = (
            f"{_who(endorser)} endorsed you: you may now submit GCN Circulars at "
            f"{ctx.settings.base_url}/circulars/new, by API or by email.\n"
        )
    else:
        text = (
            "Your request to submit GCN Circulars was not endorsed. You may ask another "
            f"submitter at {ctx.settings.base_url}/circulars/endorsements.\n"
        )
    return Mail(to=requester.email, subject="Your GCN Circulars endorsement request", text=text)


def requests_of(session: Session, user: User) -> list[Endorsement]:
    return list(
        session.scalars(
            select(Endorsement)
            .where(Endorsement.requester_id == user.id)
            .order_by(Endorsement.id.desc())
        )
    )
