"""One-time links sent by mail (verify an address, reset a password, confirm a new address).

The link carries a random token; the table keeps only its keyed hash, and using it deletes it.
A new reset or change-of-address link replaces the older ones; verification links all stay
valid until they expire (a second mail must not silently kill the first).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from skyalert.auth.errors import InvalidInput
from skyalert.auth.models import MailToken, User
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import keyed_hash, random_token


class Purpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"
    CHANGE_EMAIL = "change_email"


LIFETIMES = {
    Purpose.VERIFY: timedelta(days=2),
    Purpose.RESET: timedelta(hours=1),
    Purpose.CHANGE_EMAIL: timedelta(days=1),
}

#: Purposes where a new link revokes the older ones (they grant power over the account).
SUPERSEDING = frozenset({Purpose.RESET, Purpose.CHANGE_EMAIL})


def issue(
    session: Session, secret: bytes, user: User, purpose: Purpose, new_email: str | None = None
) -> str:
    """A new link token for ``user`` (older ones stop working if ``purpose`` supersedes)."""
    if purpose in SUPERSEDING:
        session.execute(
            delete(MailToken).where(
                MailToken.user_id == user.id, MailToken.purpose == purpose.value
            )
        )
    raw = random_token(32)
    now = utcnow()
    session.add(
        MailToken(
            token_hash=keyed_hash(secret, raw),
            user_id=user.id,
            purpose=purpose.value,
            new_email=new_email,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return raw


def last_issued(session: Session, user: User, purpose: Purpose) -> datetime | None:
    """When the newest live link of ``purpose`` was sent to ``user`` (None: no live link)."""
    return session.scalar(
        select(func.max(MailToken.created_at)).where(
            MailToken.user_id == user.id,
            MailToken.purpose == purpose.value,
            MailToken.expires_at > utcnow(),
        )
    )


def consume(session: Session, secret: bytes, raw: str, purpose: Purpose) -> MailToken:
    """The token's row, deleted so the link works once; InvalidInput if unknown or expired."""
    row = session.scalar(
        select(MailToken).where(
            MailToken.token_hash == keyed_hash(secret, raw), MailToken.purpose == purpose.value
        )
    )
    if row is None or row.expires_at <= utcnow():
        raise InvalidInput(
            "this link is not valid (any more): links work once and expire; ask for a new one"
        )
    session.delete(row)
    return row


def forget_expired(session: Session) -> int:
    result = session.execute(delete(MailToken).where(MailToken.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
