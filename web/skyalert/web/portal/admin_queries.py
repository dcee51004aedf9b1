"""Read-only views of accounts, credentials, publishers and the audit log for the admin pages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from skyalert.auth.models import AuditEntry, Credential, GroupMembership, User
from skyalert.broker.ingest import rejections
from skyalert.broker.ingest.rejections import Rejection

PAGE = 50


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    verified: bool
    created_at: datetime
    last_login_at: datetime | None
    groups: tuple[str, ...]
    credentials: int
    disabled: bool


def _groups(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if user_ids:
        rows = session.execute(
            select(GroupMembership.user_id, GroupMembership.group_name)
            .where(GroupMembership.user_id.in_(user_ids))
            .order_by(GroupMembership.group_name)
        )
        for user_id, group in rows:
            found[user_id].append(group)
    return found


def _credential_counts(session: Session, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(Credential.user_id, func.count())
        .where(Credential.user_id.in_(user_ids))
        .group_by(Credential.user_id)
    )
    return {user_id: int(count) for user_id, count in rows}


def _rows(session: Session, users: list[User]) -> list[UserRow]:
    ids = [u.id for u in users]
    groups = _groups(session, ids)
    counts = _credential_counts(session, ids)
    return [
        UserRow(
            u.id,
            u.email,
            u.name,
            u.verified,
            u.created_at,
            u.last_login_at,
            tuple(groups.get(u.id, [])),
            counts.get(u.id, 0),
            u.disabled,
        )
        for u in users
    ]


def search_users(session: Session, text: str, group: str = "", limit: int = PAGE) -> list[UserRow]:
    """Accounts whose email or name contains ``text`` (any case), optionally in ``group``."""
    statement = select(User).order_by(User.email).limit(limit)
    if text:
        pattern = f"%{text.lower()}%"
        statement = statement.where(
            func.lower(User.email).like(pattern) | func.lower(User.name).like(pattern)
        )
    if group:
        members = select(GroupMembership.user_id).where(GroupMembership.group_name == group)
        statement = statement.where(User.id.in_(members))
    return _rows(session, list(session.scalars(statement)))


def user_row(session: Session, user_id: int) -> UserRow | None:
    user = session.get(User, user_id)
    return None if user is None else _rows(session, [user])[0]


@dataclass(frozen=True)
class CredentialRow:
    client_id: str
    name: str
    owner: str
    scopes: str
    all_scopes: bool
    public: bool
    created_at: datetime
    last_used_at: datetime | None
    use_count: int


def credentials(session: Session, owner: str = "", limit: int = 200) -> list[CredentialRow]:
    """Every credential, most recently used first (never used last), with its owner."""
    statement = (
        select(Credential, User.email)
        .join(User, User.id == Credential.user_id)
        .order_by(Credential.last_used_at.desc().nulls_last(), Credential.id.desc())
        .limit(limit)
    )
    if owner:
        statement = statement.where(func.lower(User.email).like(f"%{owner.lower()}%"))
    return [
        CredentialRow(
            c.client_id,
            c.name,
            email,
            c.scopes,
            c.all_scopes,
            c.secret_hash is None,
            c.created_at,
            c.last_used_at,
            c.use_count,
        )
        for c, email in session.execute(statement)
    ]


def audit_log(
    session: Session, text: str = "", before: int | None = None, limit: int = PAGE
) -> list[AuditEntry]:
    """Audit entries newest first; ``text`` matches the account, the actor or the action."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if text:
        pattern = f"%{text.lower()}%"
        statement = statement.where(
            func.lower(AuditEntry.user_email).like(pattern)
            | func.lower(AuditEntry.actor).like(pattern)
            | func.lower(AuditEntry.action).like(pattern)
        )
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    return list(session.scalars(statement))


@dataclass(frozen=True)
class Publishers:
    """Members of each producer group, and the newest rejections of those namespaces."""

    members: dict[str, list[str]]
    rejections: list[Rejection]


def publishers(session: Session, groups: dict[str, str], limit: int = PAGE) -> Publishers:
    """``groups`` maps each producer group to its namespace."""
    rows = session.execute(
        select(GroupMembership.group_name, User.email)
        .join(User, User.id == GroupMembership.user_id)
        .where(GroupMembership.group_name.in_(list(groups)))
        .order_by(GroupMembership.group_name, User.email)
    )
    members: dict[str, list[str]] = {group: [] for group in sorted(groups)}
    for group, email in rows:
        members[group].append(email)
    recent = rejections.recent(session, set(groups.values()), limit=limit)
    return Publishers(members, recent)
