"""Addresses a user may send alerts to: the account's verified email, or one confirmed by mail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.errors import InvalidInput
from skyalert.auth.models import User
from skyalert.auth.users import normalize_email
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import keyed_hash, random_token
from skyalert.broker.emails.errors import BadLink, InvalidSubscription
from skyalert.broker.emails.models import EmailRecipient

CONFIRM_HOURS = 48


def owner(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise InvalidSubscription("the account behind this token no longer exists")
    return user


def address_of(text: str) -> str:
    try:
        return normalize_email(text)
    except InvalidInput as exc:
        raise InvalidSubscription(f"recipient: {exc}") from exc


def check_recipient(session: Session, user: User, address: str) -> str:
    """The normalised address if ``user`` may send alerts there; else a 422 saying what to do."""
    wanted = address_of(address)
    if wanted == user.email:
        if user.email_verified_at is None:
            raise InvalidSubscription(
                f"recipient: your account's address {wanted} is not verified yet; verify it "
                "with the link sent when you signed up (or ask for a new one on the portal)"
            )
        return wanted
    confirmed = session.scalar(
        select(EmailRecipient.id).where(
            EmailRecipient.user_id == user.id,
            EmailRecipient.address == wanted,
            EmailRecipient.verified_at.is_not(None),
        )
    )
    if confirmed is None:
        raise InvalidSubscription(
            f"recipient: {wanted} is not verified for your account; send "
            f'POST /api/v1/email-recipients {{"address": "{wanted}"}} and open the link in '
            "the mail that arrives there, then try again"
        )
    return wanted


def request_confirmation(
    session: Session, secret: bytes, user: User, address: str
) -> tuple[EmailRecipient, str | None]:
    """Start (or restart) confirming ``address``; returns the row and the link secret to mail
    (None when the address needs no confirmation)."""
    wanted = address_of(address)
    row = session.scalar(
        select(EmailRecipient).where(
            EmailRecipient.user_id == user.id, EmailRecipient.address == wanted
        )
    )
    if row is None:
        row = EmailRecipient(user_id=user.id, address=wanted, created_at=utcnow())
        session.add(row)
    if row.verified_at is not None or (wanted == user.email and user.email_verified_at):
        row.verified_at = row.verified_at or utcnow()
        session.flush()
        return row, None
    raw = random_token(32)
    row.token_hash = keyed_hash(secret, f"confirm:{raw}")
    row.token_expires_at = utcnow() + timedelta(hours=CONFIRM_HOURS)
    session.flush()
    return row, raw


def pending(session: Session, secret: bytes, raw: str) -> tuple[EmailRecipient, User]:
    """The unconfirmed address behind a link secret; BadLink if unknown, used or expired."""
    row = session.scalar(
        select(EmailRecipient).where(
            EmailRecipient.token_hash == keyed_hash(secret, f"confirm:{raw}")
        )
    )
    if row is None or row.token_expires_at is None or row.token_expires_at < utcnow():
        raise BadLink(
            "this confirmation link is unknown, was already used or has expired; ask for a "
            "new one with POST /api/v1/email-recipients"
        )
    return row, owner(session, row.user_id)


def confirm(session: Session, secret: bytes, raw: str) -> EmailRecipient:
    row, _user = pending(session, secret, raw)
    row.verified_at = utcnow()
    row.token_hash = None
    row.token_expires_at = None
    return row


def listed(session: Session, user: User) -> list[dict[str, object]]:
    rows = session.scalars(
        select(EmailRecipient).where(EmailRecipient.user_id == user.id).order_by(EmailRecipient.id)
    ).all()
    shown: list[dict[str, object]] = [
        {"address": user.email, "verified": user.email_verified_at is not None, "account": True}
    ]
    shown += [
        {"address": r.address, "verified": r.verified_at is not None, "account": False}
        for r in rows
        if r.address != user.email
    ]
    return shown
