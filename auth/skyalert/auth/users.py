"""Accounts: creation, lookup, passwords, profile, email verification and group membership."""

from __future__ import annotations

import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from skyalert.auth import audit
from skyalert.auth.errors import Conflict, InvalidInput, NotFound
from skyalert.auth.models import GroupMembership, User
from skyalert.auth.scopes import PUBLIC_GROUP, known_groups, scopes_of_groups
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import hash_password, random_token
from skyalert.schemas.catalog import Catalog

#: Deliberately loose: one @, something on each side, a dot-free local part allowed (localhost).
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1000


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if not EMAIL.match(value):
        raise InvalidInput(f"{email!r} is not an email address")
    return value


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"the password is too long: at most {MAX_PASSWORD} characters")


def find_user(session: Session, email: str) -> User | None:
    try:
        address = normalize_email(email)
    except InvalidInput:
        return None
    return session.scalar(select(User).where(User.email == address))


def get_user(session: Session, email: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"there is no account with the email address {email!r}")
    return user


def create_user(
    session: Session,
    email: str,
    password: str | None,
    *,
    verified: bool = False,
    name: str = "",
    affiliation: str = "",
) -> User:
    """A new account; ``password`` None for accounts that log in only through an upstream IdP."""
    address = normalize_email(email)
    if password is not None:
        check_new_password(password)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise Conflict(f"an account with the email address {address} already exists")
    user = User(
        subject=random_token(15),
        email=address,
        password_hash=hash_password(password) if password is not None else None,
        email_verified_at=utcnow() if verified else None,
        name=name.strip()[:200],
        affiliation=affiliation.strip()[:200],
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    check_new_password(password)
    user.password_hash = hash_password(password)


def groups_of(session: Session, user_id: int) -> frozenset[str]:
    """The user's groups, with the implicit ``consumers.public``."""
    stored = session.scalars(
        select(GroupMembership.group_name).where(GroupMembership.user_id == user_id)
    ).all()
    return frozenset({PUBLIC_GROUP, *stored})


def scopes_of_user(session: Session, user_id: int, catalog: Catalog) -> frozenset[str]:
    return scopes_of_groups(groups_of(session, user_id), catalog)


def _check_group(group: str, catalog: Catalog) -> None:
    groups = known_groups(catalog)
    if group not in groups:
        raise InvalidInput(f"unknown group {group!r}; the groups are: {', '.join(sorted(groups))}")


def grant_group(session: Session, user: User, group: str, catalog: Catalog, actor: str) -> bool:
    """Add ``user`` to ``group``; False if already a member."""
    _check_group(group, catalog)
    if group in groups_of(session, user.id):
        return False
    session.add(GroupMembership(user_id=user.id, group_name=group))
    audit.record(session, actor, "group.grant", user.email, group)
    return True


def revoke_group(session: Session, user: User, group: str, catalog: Catalog, actor: str) -> bool:
    """Remove ``user`` from ``group``; False if not a member."""
    _check_group(group, catalog)
    if group == PUBLIC_GROUP:
        raise InvalidInput(f"every account is in {PUBLIC_GROUP}; it cannot be revoked")
    result = session.execute(
        delete(GroupMembership).where(
            GroupMembership.user_id == user.id, GroupMembership.group_name == group
        )
    )
    if not getattr(result, "rowcount", 0):
        return False
    audit.record(session, actor, "group.revoke", user.email, group)
    return True
