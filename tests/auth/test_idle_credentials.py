"""Idle credentials: a warning mail before expiry, deletion (and a mail) after, on their own
database so no other test's credentials age."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from skyalert.auth.context import AuthContext
from skyalert.auth.maintenance import clean_up, expire_idle_credentials
from skyalert.auth.models import AuditEntry, Credential, WebSession
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog
from support.smtp import SMTPServer


@pytest.fixture
def ctx(tmp_path: Path, smtp_server: SMTPServer) -> Iterator[AuthContext]:
    settings = Settings(
        var_dir=tmp_path,
        smtp_url=smtp_server.url,
        kafka_acls=False,
        credential_idle_days=30,
        credential_warning_days=7,
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield AuthContext.build(settings, make_sessionmaker(engine), load_catalog())
    engine.dispose()


def test_idle_credentials_are_warned_once_then_deleted(
    ctx: AuthContext, smtp_server: SMTPServer
) -> None:
    user = ctx.directory.create_user(
        "idle@example.org", "long enough passphrase", verified=True, admin=False, actor="test"
    )
    idle, _ = ctx.directory.create_credential(user.id, "forgotten", "all", actor="test")
    busy, _ = ctx.directory.create_credential(user.id, "busy", "all", actor="test")
    created = utcnow()
    with ctx.sessions.begin() as session:  # "busy" got a token 20 days in
        row = session.scalar(select(Credential).where(Credential.client_id == busy.client_id))
        assert row is not None
        row.last_used_at = created + timedelta(days=20)

    assert expire_idle_credentials(ctx, created + timedelta(days=22)).warned == []
    report = expire_idle_credentials(ctx, created + timedelta(days=24))
    assert report.warned == [idle.client_id]
    (warning,) = smtp_server.wait_for(1)
    assert warning.recipients == ["idle@example.org"]
    assert "expires in 6 days" in str(warning.message["Subject"])
    assert idle.client_id in warning.message.get_content()
    assert expire_idle_credentials(ctx, created + timedelta(days=25)).warned == []  # once

    report = expire_idle_credentials(ctx, created + timedelta(days=31))
    assert report.deleted == [idle.client_id]
    _, deleted = smtp_server.wait_for(2)
    assert "was deleted" in str(deleted.message["Subject"])
    assert [c.client_id for c in ctx.directory.credentials(user.id)] == [busy.client_id]
    with ctx.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.target == idle.client_id)
        ).all()
    assert list(actions) == ["credential.create", "credential.delete"]


def test_clean_up_removes_what_expired(ctx: AuthContext) -> None:
    user = ctx.directory.create_user(
        "sessions@example.org", "long enough passphrase", verified=True, admin=False, actor="test"
    )
    with ctx.sessions.begin() as session:
        session.add(
            WebSession(
                id_hash="a" * 64, user_id=user.id, expires_at=utcnow() - timedelta(seconds=1)
            )
        )
        session.add(
            WebSession(id_hash="b" * 64, user_id=user.id, expires_at=utcnow() + timedelta(days=1))
        )
    assert clean_up(ctx) >= 1
    with ctx.sessions() as session:
        assert session.scalars(select(WebSession.id_hash)).all() == ["b" * 64]
