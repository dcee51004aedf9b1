"""Portal logins: server-side sessions whose cookie holds a random id we store only hashed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from skyalert.auth.models import User, WebSession
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import keyed_hash, random_token

COOKIE = "skyalert_session"


def start_session(
    session: Session, secret: bytes, user: User, lifetime: int, method: str = "password"
) -> str:
    """Log ``user`` in; returns the cookie value (shown to the browser only)."""
    raw = random_token(32)
    now = utcnow()
    session.add(
        WebSession(
            id_hash=keyed_hash(secret, raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            method=method,
        )
    )
    user.last_login_at = now
    return raw


def find_session(session: Session, secret: bytes, raw: str) -> tuple[WebSession, User] | None:
    """The live session behind a cookie value, with its user."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.id_hash == keyed_hash(secret, raw),
            WebSession.expires_at > utcnow(),
            User.disabled_at.is_(None),
        )
    ).first()
    return None if row is None else (row[0], row[1])


def end_session(session: Session, secret: bytes, raw: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == keyed_hash(secret, raw)))


def end_all_sessions(session: Session, user_id: int, keep: str | None = None) -> None:
    """Log the user out everywhere (after a password change or reset), but for ``keep``."""
    statement = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        statement = statement.where(WebSession.id_hash != keep)
    session.execute(statement)
