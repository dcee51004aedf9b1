"""Periodic upkeep, run by ``skyalert worker maintenance`` (``skyalert up`` starts one).

- idle credentials: a warning mail ``credential_warning_days`` before expiry, deletion (and a
  mail) after ``credential_idle_days`` without a token being issued;
- expired sessions, mail links, authorization codes, refresh tokens, revoked-token entries and
  rate-limit windows are deleted; retired signing keys go once their tokens have expired;
- a full Kafka ACL sync every few minutes repairs changes Kafka missed while it was down.

Several instances may run: each step is idempotent, and a credential is warned at most once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from skyalert.auth import mails
from skyalert.auth.audit import SYSTEM
from skyalert.auth.context import AuthContext
from skyalert.auth.credentials import delete_credential
from skyalert.auth.kafka_acls import AclSyncError
from skyalert.auth.keys import prune_keys
from skyalert.auth.mail_links import forget_expired
from skyalert.auth.models import (
    AuthorizationCode,
    Credential,
    RefreshToken,
    RevokedToken,
    User,
    WebSession,
)
from skyalert.auth.ratelimit import forget_old
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import MailError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.mail import Mail, send_mails

log = logging.getLogger(__name__)

STEP_SECONDS = 60.0
ACL_SYNC_SECONDS = 300.0


@dataclass
class ExpiryReport:
    warned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def expire_idle_credentials(ctx: AuthContext, now: datetime | None = None) -> ExpiryReport:
    """Warn owners of credentials about to expire; delete the expired ones."""
    settings = ctx.settings
    now = now or utcnow()
    idle_since = func.coalesce(Credential.last_used_at, Credential.created_at)
    expire_before = now - timedelta(days=settings.credential_idle_days)
    warn_before = expire_before + timedelta(days=settings.credential_warning_days)
    report = ExpiryReport()
    outgoing: list[Mail] = []
    with ctx.sessions.begin() as session:
        rows = session.execute(
            select(Credential, User)
            .join(User, User.id == Credential.user_id)
            .where(idle_since < expire_before)
        ).all()
        for credential, user in rows:
            delete_credential(
                session,
                None,
                credential.client_id,
                actor=SYSTEM,
                reason=f"unused for {settings.credential_idle_days} days",
            )
            report.deleted.append(credential.client_id)
            outgoing.append(
                mails.credential_expired(
                    settings, user.email, credential.name, credential.client_id
                )
            )
        rows = session.execute(
            select(Credential, User)
            .join(User, User.id == Credential.user_id)
            .where(idle_since < warn_before, Credential.expiry_warned_at.is_(None))
        ).all()
        for credential, user in rows:
            last = credential.last_used_at or credential.created_at
            expires = last + timedelta(days=settings.credential_idle_days)
            days_left = max(1, math.ceil((expires - now) / timedelta(days=1)))
            credential.expiry_warned_at = now
            report.warned.append(credential.client_id)
            outgoing.append(
                mails.credential_expiring(
                    settings, user.email, credential.name, credential.client_id, days_left
                )
            )
    if report.deleted:
        ctx.acls.try_sync(report.deleted)
    if outgoing:
        try:
            send_mails(settings, outgoing)
        except MailError as exc:
            # The warning flags are already set: better one missed mail than a mail a minute.
            log.warning("credential expiry mails not sent: %s", exc)
    return report


def clean_up(ctx: AuthContext) -> int:
    """Delete what has expired; returns how many rows went."""
    now = utcnow()
    gone = 0
    with ctx.sessions.begin() as session:
        for statement in (
            delete(WebSession).where(WebSession.expires_at <= now),
            delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now),
            delete(RefreshToken).where(RefreshToken.expires_at <= now),
            delete(RevokedToken).where(RevokedToken.expires_at <= now),
        ):
            gone += int(getattr(session.execute(statement), "rowcount", 0) or 0)
        gone += forget_expired(session) + forget_old(session) + prune_keys(session, ctx.settings)
    return gone


def run_maintenance(ctx: AuthContext, stop: threading.Event, liveness: Liveness) -> None:
    """Loop until ``stop`` is set."""
    last_acl_sync = -ACL_SYNC_SECONDS
    while not stop.is_set():
        report = expire_idle_credentials(ctx)
        removed = clean_up(ctx)
        detail = f"{len(report.warned)} warned, {len(report.deleted)} expired, {removed} cleaned"
        if time.monotonic() - last_acl_sync >= ACL_SYNC_SECONDS:
            try:
                changes = ctx.acls.sync_all()
                detail += f", ACLs +{len(changes.created)}/-{len(changes.deleted)}"
                last_acl_sync = time.monotonic()
            except AclSyncError as exc:
                log.warning("Kafka ACL sync failed (retrying next round): %s", exc)
        liveness.beat(detail)
        stop.wait(STEP_SECONDS)
    liveness.gone()
