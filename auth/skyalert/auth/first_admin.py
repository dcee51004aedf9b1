"""The first admin account of a new deployment, made by ``skyalert up``."""

from __future__ import annotations

from sqlalchemy import select

from skyalert.auth.audit import SYSTEM
from skyalert.auth.models import GroupMembership, User
from skyalert.auth.scopes import ADMIN_GROUP
from skyalert.auth.users import create_user, grant_group
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.secrets import random_token
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog


def ensure_admin(settings: Settings) -> tuple[str, str | None]:
    """An admin's email, and its new random password if this call created the account."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine).begin() as session:
            existing = session.scalar(
                select(User.email)
                .join(GroupMembership, GroupMembership.user_id == User.id)
                .where(GroupMembership.group_name == ADMIN_GROUP)
                .order_by(User.id)
                .limit(1)
            )
            if existing is not None:
                return existing, None
            password: str | None = random_token(12)
            user = session.scalar(select(User).where(User.email == settings.admin_email))
            if user is None:
                user = create_user(session, settings.admin_email, password, verified=True)
            else:  # the address exists without the admin role: give it, keep its password
                password = None
            grant_group(session, user, ADMIN_GROUP, load_catalog(), SYSTEM)
            return user.email, password
    finally:
        engine.dispose()
