"""Bearer tokens verified in memory: signature and claims once, the database only when it changed.

A request's token is looked up in a table of tokens already checked against the database; only
its expiry is tested again. One refresher thread per process reads, every ``token_recheck``
seconds, what could take a token's power away since the last look: newly revoked token ids
(``revoked_tokens``) and new audit entries (credential deleted, account disabled, group revoked).
Entries of the accounts named there are dropped and resolved afresh on their next request.

The bound: a change committed by another process stops its tokens within ``token_recheck``
seconds (plus one query); one committed by this process at once, because every commit that
writes an audit entry or a revoked token refreshes the table before it returns. When the
refresher has not succeeded for ``STALE_AFTER`` intervals (the database is away), the table is
not trusted and every request is checked against the database as before.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.errors import InvalidToken
from skyalert.auth.models import AuditEntry, RevokedToken
from skyalert.auth.principal import Principal
from skyalert.auth.tokens import AccessClaims
from skyalert.broker.core.periodic import Periodic

log = logging.getLogger(__name__)

#: Refresher failures in a row after which the table is bypassed.
STALE_AFTER = 3
#: Re-read revocations this far back of the last look: other replicas' clocks differ.
CLOCK_MARGIN = timedelta(seconds=30)
#: Even with no change seen, a token's principal is resolved again after this long.
MAX_AGE = 300.0
#: Beyond this many tokens the table starts over (a flood of distinct tokens).
MAX_ENTRIES = 100_000

Verify = Callable[[str], AccessClaims]
Resolve = Callable[[Session, AccessClaims], Principal]


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    resolved_at: float


class VerifiedTokens:
    """The process's table of verified bearer tokens; ``start`` its refresher, ``close`` it."""

    def __init__(
        self, sessions: sessionmaker[Session], verify: Verify, resolve: Resolve, interval: float
    ) -> None:
        self.sessions = sessions
        self.verify = verify
        self.resolve = resolve
        self.interval = interval
        self._entries: dict[str, _Entry] = {}
        #: Revoked token ids and when those tokens expire anyway.
        self._revoked: dict[str, datetime] = {}
        #: Bumped whenever a refresh dropped something: a principal resolved before that
        #: may be stale, so it is not kept.
        self._generation = 0
        self._lock = threading.Lock()
        self._last_audit: int | None = None
        self._since = datetime.now(UTC)
        self._fresh_at = 0.0
        self._ticker = Periodic("token-recheck", interval, self._refresh_or_warn)

    def start(self) -> None:
        self._refresh_or_warn()
        _LIVE.add(self)
        self._ticker.start()

    def close(self) -> None:
        self._ticker.stop()
        _LIVE.discard(self)

    def cached(self, token: str) -> Principal | None:
        """The caller behind a token checked before and unchanged since (no I/O), or None."""
        entry = self._entries.get(token)
        now = time.monotonic()
        if entry is None or not self._trusted(now) or now - entry.resolved_at >= MAX_AGE:
            return None
        expires = entry.principal.expires_at
        return entry.principal if expires is not None and expires > datetime.now(UTC) else None

    def principal(self, token: str) -> Principal:
        """The caller behind a bearer token; raise InvalidToken saying why not."""
        found = self.cached(token)
        if found is not None:
            return found
        now = time.monotonic()
        claims = self.verify(token)
        if claims.jti in self._revoked:
            raise InvalidToken("this token has been revoked; get a new one")
        generation = self._generation
        with self.sessions() as session:
            principal = self.resolve(session, claims)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            if generation == self._generation:
                self._entries[token] = _Entry(principal, now)
        return principal

    def _trusted(self, now: float) -> bool:
        return now - self._fresh_at < self.interval * STALE_AFTER

    def _refresh_or_warn(self) -> None:
        try:
            self.refresh()
        except SQLAlchemyError as exc:
            log.warning("could not re-check tokens (each request asks the database): %s", exc)

    def refresh(self) -> None:
        """Drop what the database says changed since the last look."""
        started = time.monotonic()
        since = self._since
        with self.sessions() as session:
            recent = select(RevokedToken.jti, RevokedToken.expires_at).where(
                RevokedToken.revoked_at >= since - CLOCK_MARGIN
            )
            revoked: dict[str, datetime] = dict(session.execute(recent).all())
            audit = select(AuditEntry.id, AuditEntry.user_email).order_by(AuditEntry.id)
            if self._last_audit is None:
                changed: list[Any] = []
                last = session.scalar(select(func.max(AuditEntry.id))) or 0
            else:
                changed = list(session.execute(audit.where(AuditEntry.id > self._last_audit)))
                last = changed[-1][0] if changed else self._last_audit
        emails = {email for _, email in changed}
        now = datetime.now(UTC)
        with self._lock:
            if emails or revoked.keys() - self._revoked.keys():
                self._generation += 1
            self._revoked = {
                jti: expires
                for jti, expires in {**self._revoked, **revoked}.items()
                if expires > now
            }
            self._entries = {
                token: entry
                for token, entry in self._entries.items()
                if entry.principal.email not in emails
                and entry.principal.token_id not in revoked
                and (entry.principal.expires_at is None or entry.principal.expires_at > now)
            }
            self._last_audit = last
            self._since = datetime.now(UTC)
            self._fresh_at = started


#: Tables of this process, refreshed when this process commits a change that may revoke.
_LIVE: weakref.WeakSet[VerifiedTokens] = weakref.WeakSet()
_CHANGED = "skyalert.auth.revocation"


@event.listens_for(Session, "before_flush")
def _note_revocations(session: Session, _context: object, _instances: object) -> None:
    if any(isinstance(row, AuditEntry | RevokedToken) for row in session.new):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _refresh_after_revocation(session: Session) -> None:
    if not session.info.pop(_CHANGED, False):
        return
    for table in list(_LIVE):
        table._refresh_or_warn()
