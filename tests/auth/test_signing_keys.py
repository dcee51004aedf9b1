"""Signing keys: encrypted at rest, published before they sign, kept until their tokens expire."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth import keys
from skyalert.auth.errors import InvalidToken
from skyalert.auth.keys import KeyRing, create_key, jwks_path, prune_keys
from skyalert.auth.models import SigningKey
from skyalert.auth.tokens import issue_access_token, verify_access_token
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.settings import Settings


@pytest.fixture(params=["RS256", "ES256"])
def local(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    settings = Settings(var_dir=tmp_path, token_signing_alg=request.param, token_lifetime=60)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield settings, make_sessionmaker(engine)
    engine.dispose()


def test_keys_are_encrypted_at_rest_and_tokens_verify(
    local: tuple[Settings, sessionmaker[Session]],
) -> None:
    settings, sessions = local
    ring = KeyRing(sessions, settings)
    token, claims = issue_access_token(
        ring, settings, subject="c", client_id="c", scopes={"read:public"}
    )
    assert verify_access_token(ring, settings, token) == claims
    with sessions() as session:
        (row,) = session.scalars(select(SigningKey)).all()
    assert row.alg == settings.token_signing_alg
    assert "ENCRYPTED PRIVATE KEY" in row.private_pem
    assert '"d"' not in row.public_jwk
    assert jwks_path(settings).read_text("utf-8").count(row.kid) == 1  # for a local Kafka


def test_rotation_publishes_first_and_keeps_old_keys_for_their_tokens(
    local: tuple[Settings, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, sessions = local
    ring = KeyRing(sessions, settings)
    first = ring.signing_key()
    old_token, _ = issue_access_token(ring, settings, subject="c", client_id="c", scopes=set())
    with sessions.begin() as session:
        second = create_key(session, settings).kid
    ring.reload()
    published = {k["kid"] for k in ring.jwks()["keys"]}
    assert published == {first.kid, second}
    assert ring.signing_key().kid == first.kid  # not yet: others may not know the new key
    monkeypatch.setattr(keys, "PUBLISH_AHEAD", timedelta(0))
    assert ring.signing_key().kid == second
    verify_access_token(ring, settings, old_token)

    # Once every token of the old key has expired, it leaves the JWKS and the table.
    with sessions.begin() as session:
        session.execute(
            update(SigningKey)
            .where(SigningKey.kid == first.kid)
            .values(retired_at=utcnow() - timedelta(hours=1))
        )
    ring.reload()
    assert {k["kid"] for k in ring.jwks()["keys"]} == {second}
    with pytest.raises(InvalidToken, match="does not know"):
        verify_access_token(ring, settings, old_token)
    with sessions.begin() as session:
        assert prune_keys(session, settings) == 1


def test_an_id_token_is_not_an_access_token(local: tuple[Settings, sessionmaker[Session]]) -> None:
    settings, sessions = local
    ring = KeyRing(sessions, settings)
    key = ring.signing_key()
    id_token = jwt.encode(
        {"alg": key.alg, "kid": key.kid},  # typ JWT, as ID tokens have
        {
            "iss": settings.base_url,
            "sub": "c",
            "aud": settings.token_audience,
            "client_id": "c",
            "jti": "j",
            "iat": 1,
            "exp": 2**31,
        },
        key.private,
        algorithms=[key.alg],
    )
    with pytest.raises(InvalidToken, match="not an access token"):
        verify_access_token(ring, settings, id_token)
